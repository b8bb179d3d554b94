"Exhaustive gradient checks of Dense and the losses, and their numerical edge cases."
import numpy as np, pytest
import dl2
from dl2.core import ACTIVATIONS, grad_check, check_layer
from dl2 import losses

@pytest.mark.parametrize('act', sorted(ACTIVATIONS))
@pytest.mark.parametrize('use_bias', [True, False])
@pytest.mark.parametrize('shape', [(1, 1, 1), (3, 5, 2), (7, 2, 9)])
def test_dense_gradcheck(f64, rng, act, use_bias, shape):
    n, d, u = shape
    layer = dl2.Dense(u, activation=act, use_bias=use_bias)
    layer.build((None, d))
    errs = check_layer(layer, rng.standard_normal((n, d)) + 0.1, tol=1e-7)
    assert len(errs) == 2 + use_bias

@pytest.mark.parametrize('layer', [lambda: dl2.ReLU(), lambda: dl2.LeakyReLU(0.2), lambda: dl2.Softmax(),
                                   lambda: dl2.Activation('sigmoid'), lambda: dl2.Flatten(), lambda: dl2.Reshape((6, 2)),
                                   lambda: dl2.ReLU(max_value=0.5), lambda: dl2.ReLU(negative_slope=0.1, threshold=0.3),
                                   lambda: dl2.ReLU(max_value=1.0, negative_slope=0.2, threshold=0.3),
                                   lambda: dl2.LeakyReLU(0.0), lambda: dl2.Softmax(axis=2), lambda: dl2.Reshape((-1, 2))])
def test_shape_and_activation_layers_gradcheck(f64, rng, layer):
    check_layer(layer(), rng.standard_normal((2, 3, 4)) + 0.05)

def test_gradcheck_catches_a_wrong_backward(f64, rng):
    layer = dl2.Dense(3, activation='tanh'); layer.build((None, 4))
    x = rng.standard_normal((5, 4))
    layer.backward = lambda dout, f=layer.backward: 1.01 * f(dout)
    with pytest.raises(AssertionError, match='gradient check failed'): check_layer(layer, x)

def _loss_cases(rng):
    y01 = rng.integers(0, 2, (6, 3)).astype(float)
    onehot = np.eye(4)[rng.integers(0, 4, 6)]
    probs = np.exp(rng.standard_normal((6, 4))); probs /= probs.sum(1, keepdims=True)
    soft = rng.uniform(0, 1, (6, 4))
    return [(losses.MeanSquaredError(), rng.standard_normal((6, 3)), rng.standard_normal((6, 3))),
            (losses.BinaryCrossentropy(), y01, rng.uniform(0.05, 0.95, (6, 3))),
            (losses.BinaryCrossentropy(from_logits=True), y01, 3 * rng.standard_normal((6, 3))),
            (losses.CategoricalCrossentropy(), onehot, probs),
            (losses.CategoricalCrossentropy(), onehot, probs * 3.0),  # unnormalised: Keras renormalises
            (losses.CategoricalCrossentropy(from_logits=True), onehot, 3 * rng.standard_normal((6, 4))),
            (losses.SparseCategoricalCrossentropy(), onehot.argmax(1), probs),
            (losses.SparseCategoricalCrossentropy(from_logits=True), onehot.argmax(1), 3 * rng.standard_normal((6, 4))),
            # soft targets whose rows do not sum to 1: loss and gradient must still agree
            (losses.CategoricalCrossentropy(from_logits=True), soft, 3 * rng.standard_normal((6, 4))),
            (losses.CategoricalCrossentropy(), soft, probs * 3.0),
            (losses.BinaryCrossentropy(from_logits=True), soft, 3 * rng.standard_normal((6, 4))),
            (losses.BinaryCrossentropy(), soft, rng.uniform(0.05, 0.95, (6, 4)))]

@pytest.mark.parametrize('case', range(12))
def test_loss_gradcheck(rng, case):
    loss, y, p = _loss_cases(rng)[case]
    grad_check(lambda: np.array(loss(y, p)), lambda d: [d * loss.gradient(y, p)], [p], tol=1e-7)

def test_losses_against_formulas(rng):
    y = np.eye(3)[[0, 2]]; z = rng.standard_normal((2, 3))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    expected = -np.mean(np.log((p * y).sum(1)))
    assert np.isclose(losses.CategoricalCrossentropy(from_logits=True)(y, z), expected)
    assert np.isclose(losses.CategoricalCrossentropy()(y, p), expected)
    assert np.isclose(losses.SparseCategoricalCrossentropy(from_logits=True)([0, 2], z), expected)
    yb, pb = np.array([[1.], [0.]]), np.array([[0.8], [0.3]])
    assert np.isclose(losses.BinaryCrossentropy()(yb, pb), -np.mean([np.log(0.8), np.log(0.7)]))

def test_soft_targets_as_keras(rng):
    # Keras: -sum(y * log_softmax(z)) for any targets, = sum(y) * logsumexp(z) - sum(y * z); equal to the loss on
    # the probabilities softmax(z); gradient sum(y) * softmax(z) - y, divided by the batch size
    y, z = rng.uniform(0, 1, (5, 3)), rng.standard_normal((5, 3))
    log_softmax = z - np.log(np.exp(z).sum(1, keepdims=True))
    cce = losses.CategoricalCrossentropy(from_logits=True)
    assert np.isclose(cce(y, z), -np.mean((y * log_softmax).sum(1)), rtol=1e-12)
    assert np.isclose(cce(y, z), losses.CategoricalCrossentropy()(y, np.exp(log_softmax)), rtol=1e-12)
    expected = (y.sum(1, keepdims=True) * np.exp(log_softmax) - y) / len(y)
    np.testing.assert_allclose(cce.gradient(y, z), expected, rtol=1e-12, atol=1e-15)

@pytest.mark.parametrize('cls', [losses.CategoricalCrossentropy, losses.BinaryCrossentropy])
def test_extreme_logits_are_finite_and_correct(cls):
    z = np.array([[1e4, 0., -1e4], [-1e4, 0., 1e4]])
    y = np.eye(3)[[0, 0]]
    loss = cls(from_logits=True)
    val, g = loss(y, z), loss.gradient(y, z)
    assert np.isfinite(val) and np.isfinite(g).all()
    if cls is losses.CategoricalCrossentropy:
        assert np.isclose(val, 1e4)   # first sample perfect (0), second off by 2e4 (-> 2e4/2)
        np.testing.assert_allclose(g, [[0, 0, 0], [-0.5, 0, 0.5]], atol=1e-12)

@pytest.mark.parametrize('loss', [losses.BinaryCrossentropy(), losses.CategoricalCrossentropy()])
def test_probabilities_of_exactly_0_and_1_give_no_nan(loss):
    y = np.array([[1., 0.], [0., 1.]]); p = np.array([[0., 1.], [1., 0.]])
    with np.errstate(all='raise'):
        assert np.isfinite(loss(y, p)) and np.isfinite(loss.gradient(y, p)).all()

def test_loss_errors():
    with pytest.raises(ValueError, match=r"\(3, 2\) and \(3, 4\)"): losses.MeanSquaredError()(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"): losses.SparseCategoricalCrossentropy()([0, 5], np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match=r"integers"): losses.SparseCategoricalCrossentropy()([0.5, 1], np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="Unknown loss 'hinge'.*mse"): losses.get('hinge')

def test_dtype_policy():
    assert dl2.Dense(2)(np.zeros((1, 3))).dtype == np.float32
    with dl2.using_floatx('float64'):
        d = dl2.Dense(2)
    assert d(np.zeros((1, 3), dtype=np.uint8)).dtype == np.float64 and dl2.floatx() == np.float32
    with pytest.raises(ValueError, match='float16'): dl2.set_floatx('float16')
