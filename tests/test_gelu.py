"GELU: exact values, its backward from the input through every layer with an activation, and PyTorch's GELU."
import numpy as np, pytest
import dl2
from dl2.core import ACTIVATIONS, gelu, gelu_backward, check_layer

def test_exact_values():
    z = np.array([-1.0, 0.0, 1.0, 3.0])
    # z * Phi(z): Phi(1) = 0.8413447460685429, Phi(-1) = 1 - Phi(1), Phi(3) = 0.9986501019683699
    assert np.allclose(gelu(z), [-0.15865525393145707, 0.0, 0.8413447460685429, 2.9959503059051097], rtol=1e-15)
    # derivative Phi(z) + z phi(z) at 0 is 1/2, at 1 it is Phi(1) + phi(1)
    assert np.allclose(gelu_backward(np.array([0.0, 1.0]), np.ones(2)),
                       [0.5, 0.8413447460685429 + 0.24197072451914337], rtol=1e-15)
    assert ACTIVATIONS['gelu'].from_input and not ACTIVATIONS['relu'].from_input

@pytest.mark.parametrize('make, shape', [(lambda: dl2.Dense(4, activation='gelu'), (5, 3)),
                                         (lambda: dl2.Conv2D(3, 3, padding='same', activation='gelu'), (2, 5, 5, 2)),
                                         (lambda: dl2.Conv2DTranspose(3, 3, strides=2, activation='gelu'), (2, 4, 4, 2)),
                                         (lambda: dl2.Activation('gelu'), (3, 4))])
def test_layers_with_gelu_pass_the_gradient_check(make, shape, f64):
    errs = check_layer(make(), np.random.default_rng(0).standard_normal(shape))
    assert max(errs.values()) < 1e-7, errs

def test_matches_torch():
    torch = pytest.importorskip('torch')
    z = np.linspace(-6, 6, 1001)
    t = torch.tensor(z, requires_grad=True)
    y = torch.nn.functional.gelu(t)  # the exact one (approximate='none')
    d = np.random.default_rng(0).standard_normal(z.shape)
    y.backward(torch.tensor(d))
    assert np.allclose(gelu(z), y.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert np.allclose(gelu_backward(z, d), t.grad.numpy(), rtol=1e-12, atol=1e-15)

def test_saved_model_with_gelu(tmp_path):
    m = dl2.Sequential([dl2.Input((3,)), dl2.Dense(4, activation='gelu'), dl2.Dense(1)])
    m.save(tmp_path / 'g.npz')
    x = np.random.default_rng(0).random((5, 3), np.float32)
    assert np.array_equal(dl2.load_model(tmp_path / 'g.npz').predict(x), m.predict(x))
