"BatchNormalization and Dropout: formulas, gradients, moving statistics, inference, saving, bad input."
import numpy as np, pytest
import dl2
from dl2.core import check_layer, grad_check, rel_error
from dl2.batchnorm import (batchnorm_naive, batchnorm_backward_staged, batchnorm_backward_closed, batchnorm_forward,
                           batchnorm_backward, BatchNormalization, Dropout)

@pytest.mark.parametrize('shape', [(9, 4), (3, 5, 4, 6), (1, 7, 3, 2)])
def test_forward_matches_formula(shape):
    rng = np.random.default_rng(1)
    x, g, b = rng.standard_normal(shape) * 3 + 2, rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    axes = tuple(range(len(shape) - 1))
    want = g * (x - x.mean(axes)) / np.sqrt(x.var(axes) + 1e-3) + b
    assert rel_error(batchnorm_forward(x, g, b)[0], want) < 1e-12
    assert rel_error(batchnorm_naive(x, g, b)[0], want) < 1e-12

@pytest.mark.parametrize('shape', [(9, 4), (3, 5, 4, 6)])
def test_staged_closed_and_fast_backward_agree(shape):
    rng = np.random.default_rng(2)
    x, g, b, d = rng.standard_normal(shape) + 1, rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1]), rng.standard_normal(shape)
    _, cache = batchnorm_naive(x, g, b)
    _, mu, var, inv = batchnorm_forward(x, g, b)
    for a, c, f in zip(batchnorm_backward_staged(d, cache), batchnorm_backward_closed(d, cache), batchnorm_backward(d, x, g, mu, inv)):
        assert rel_error(a, c) < 1e-12 and rel_error(a, f) < 1e-10

@pytest.mark.parametrize('shape, kw', [((8, 5), {}), ((2, 4, 3, 5), {}), ((6, 3), dict(center=False)), ((2, 3, 3, 4), dict(scale=False)),
                                       ((1, 5, 5, 3), dict(epsilon=0.1))])
def test_layer_gradcheck(f64, shape, kw):
    x = np.random.default_rng(3).standard_normal(shape) * 2 + 1
    check_layer(BatchNormalization(**kw), x, tol=1e-7)

def test_constant_input_is_finite():
    x = np.full((16, 4, 4, 3), 7.0, np.float32)
    bn = BatchNormalization(); y = bn(x, training=True)
    dx = bn.backward(np.random.default_rng(0).standard_normal(x.shape).astype(np.float32))
    assert np.isfinite(y).all() and np.isfinite(dx).all() and all(np.isfinite(g).all() for g in bn.grads)
    np.testing.assert_allclose(y, 0, atol=1e-6)

def test_moving_statistics_and_inference():
    rng = np.random.default_rng(4)
    bn = BatchNormalization(momentum=0.8, epsilon=1e-2)
    mm, mv = np.zeros(5), np.ones(5)
    for _ in range(6):
        xb = (rng.standard_normal((4, 3, 3, 5)) * 3 - 1).astype(np.float32)
        bn(xb, training=True)
        mm = 0.8 * mm + 0.2 * xb.mean((0, 1, 2)); mv = 0.8 * mv + 0.2 * xb.var((0, 1, 2))
    np.testing.assert_allclose(bn.moving_mean, mm, rtol=1e-5); np.testing.assert_allclose(bn.moving_variance, mv, rtol=1e-5)
    xt = rng.standard_normal((2, 3, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(bn(xt), (xt - mm) / np.sqrt(mv + 1e-2), rtol=1e-4, atol=1e-5)
    before = bn.moving_mean.copy(); bn(xt); np.testing.assert_array_equal(bn.moving_mean, before)   # inference changes nothing

def test_predict_and_evaluate_use_inference_mode_and_save_load_keeps_statistics(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((128, 6)).astype(np.float32) * 4 + 3; y = (x[:, 0] > 3).astype(int)
    m = dl2.Sequential([dl2.Input((6,)), dl2.Dense(8), BatchNormalization(), dl2.ReLU(), Dropout(0.5, seed=1), dl2.Dense(2)])
    m.compile('adam', dl2.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, epochs=3, verbose=0)
    bn = m.layers[1]
    assert not np.allclose(bn.moving_mean, 0)
    np.testing.assert_array_equal(m.predict(x[:10]), m.predict(x[:10]))          # no dropout, no batch statistics
    single = np.concatenate([m.predict(x[i:i + 1]) for i in range(10)])
    np.testing.assert_allclose(single, m.predict(x[:10]), rtol=1e-5, atol=1e-6)   # a prediction does not depend on the batch
    m.save(tmp_path / 'bn.npz'); m2 = dl2.load_model(tmp_path / 'bn.npz')
    np.testing.assert_array_equal(m2.layers[1].moving_variance, bn.moving_variance)
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    lines = []; m.summary(print_fn=lines.append)
    assert 'Non-trainable params: 16' in lines

def test_dropout():
    x = np.ones((400, 300), np.float32)
    d = Dropout(0.25, seed=3); y = d(x, training=True)
    assert abs(y.mean() - 1) < 0.01 and abs((y == 0).mean() - 0.25) < 0.01
    np.testing.assert_array_equal(d.backward(np.full_like(x, 2)), 2 * y)
    np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(Dropout(0.25, seed=7)(x, training=True), Dropout(0.25, seed=7)(x, training=True))
    assert not np.array_equal(Dropout(0.25, seed=7)(x, training=True), Dropout(0.25, seed=8)(x, training=True))

def test_bad_input():
    bn = BatchNormalization(); bn(np.zeros((4, 3)), training=True)
    with pytest.raises(ValueError, match=r"Layer 'batch_normalization': expected input shape \(None, 3\), received \(4, 5\)"): bn(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="only the last axis"): BatchNormalization(axis=1)(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="momentum must be in"): BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"): Dropout(-0.1)
    with pytest.raises(ValueError, match="backward called before a forward pass"): Dropout(0.5).backward(np.zeros(3))
