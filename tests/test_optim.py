"Optimizer update rules against hand-computed values, and against PyTorch when it is installed."
import numpy as np, pytest
import dl2

G = [np.array([0.5, -1.0]), np.array([0.1, 2.0]), np.array([-0.3, 0.4])]

def reference(name, p, hp):
    "The documented PyTorch rules written out for three steps, independent of dl2's code."
    p, v, s, m = p.copy(), np.zeros(2), np.full(2, hp.get('init', 0.0)), np.zeros(2)
    lr = hp['lr']
    for t, g in enumerate(G, 1):
        if name == 'sgd':
            v = hp['mu'] * v + g
            p = p - lr * ((g + hp['mu'] * v) if hp.get('nesterov') else v)
        elif name == 'rmsprop':
            s = hp['rho'] * s + (1 - hp['rho']) * g**2; p = p - lr * g / (np.sqrt(s) + hp['eps'])
        elif name == 'adagrad':
            s = s + g**2; p = p - lr * g / (np.sqrt(s) + hp['eps'])
        elif name == 'adam':
            m = 0.9 * m + 0.1 * g; v = 0.999 * v + 0.001 * g**2
            p = p - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + hp['eps'])
    return p

CASES = [('sgd', lambda ps: dl2.SGD(params=ps, learning_rate=0.1), dict(lr=0.1, mu=0.0)),
         ('sgd', lambda ps: dl2.SGD(params=ps, learning_rate=0.1, momentum=0.9), dict(lr=0.1, mu=0.9)),
         ('sgd', lambda ps: dl2.SGD(params=ps, learning_rate=0.1, momentum=0.9, nesterov=True), dict(lr=0.1, mu=0.9, nesterov=True)),
         ('sgd', lambda ps: dl2.Momentum(params=ps, learning_rate=0.1), dict(lr=0.1, mu=0.9)),
         ('rmsprop', lambda ps: dl2.RMSprop(params=ps, learning_rate=0.01, rho=0.9, epsilon=1e-7), dict(lr=0.01, rho=0.9, eps=1e-7)),
         ('adagrad', lambda ps: dl2.Adagrad(params=ps, learning_rate=0.1), dict(lr=0.1, eps=1e-7, init=0.1)),
         ('adam', lambda ps: dl2.Adam(params=ps, learning_rate=0.01), dict(lr=0.01, eps=1e-7))]

@pytest.mark.parametrize('i', range(len(CASES)))
def test_rules_against_reference(i):
    name, make, hp = CASES[i]
    p = np.array([1.0, -2.0]); opt = make([p])
    for g in G: opt.step([g])
    np.testing.assert_allclose(p, reference(name, np.array([1.0, -2.0]), hp), rtol=1e-12, atol=1e-14)

def test_first_adam_step_by_hand():
    p = np.array([1.0]); dl2.Adam(learning_rate=0.1, epsilon=0.0, params=[p]).step([np.array([0.5])])
    assert p[0] == pytest.approx(0.9, abs=1e-12)   # m_hat = g, v_hat = g^2: a step of exactly lr

def test_keras_defaults():
    ema = dict(use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None)
    assert dl2.Adam().get_config() == dict(learning_rate=0.001, **ema, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    assert dl2.Adam(2e-3).learning_rate == 2e-3 and dl2.SGD(0.1, 0.9).momentum == 0.9  # Keras' argument order
    assert dl2.SGD().get_config() == dict(learning_rate=0.01, **ema, momentum=0.0, nesterov=False)
    assert dl2.RMSprop().get_config()['rho'] == 0.9 and dl2.Adagrad().get_config()['initial_accumulator_value'] == 0.1

def test_trains_arbitrary_arrays_in_place():
    w1, w2 = np.zeros((2, 3)), np.zeros(3, dtype=np.float32)
    opt = dl2.SGD(learning_rate=0.5, params=[w1, w2])
    opt.step([np.ones((2, 3)), np.ones(3)])
    assert (w1 == -0.5).all() and (w2 == -0.5).all() and w2.dtype == np.float32

def test_optimizer_errors():
    with pytest.raises(ValueError, match='expected 1 gradients'): dl2.Adam(params=[np.zeros(2)]).step([])
    with pytest.raises(ValueError, match=r'gradient 0 has shape \(3,\), expected \(2,\)'): dl2.Adam(params=[np.zeros(2)]).step([np.zeros(3)])
    with pytest.raises(ValueError, match='C-contiguous'): dl2.SGD(params=[np.zeros((3, 3)).T[:, :2]])
    with pytest.raises(ValueError, match="Unknown optimizer 'adamw'.*adagrad"): dl2.optim.get('adamw')

@pytest.mark.parametrize('name', ['sgd', 'nesterov', 'rmsprop', 'adagrad', 'adam'])
def test_against_pytorch(name):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0); p0 = rng.standard_normal(5); gs = rng.standard_normal((6, 5))
    tp = torch.tensor(p0.copy(), requires_grad=True)
    topt, opt_p = {
        'sgd': (torch.optim.SGD([tp], lr=0.1, momentum=0.9), lambda ps: dl2.SGD(0.1, params=ps, momentum=0.9)),
        'nesterov': (torch.optim.SGD([tp], lr=0.1, momentum=0.9, nesterov=True), lambda ps: dl2.SGD(0.1, params=ps, momentum=0.9, nesterov=True)),
        'rmsprop': (torch.optim.RMSprop([tp], lr=0.01, alpha=0.9, eps=1e-7), lambda ps: dl2.RMSprop(0.01, params=ps, rho=0.9, epsilon=1e-7)),
        'adagrad': (torch.optim.Adagrad([tp], lr=0.1, initial_accumulator_value=0.1, eps=1e-7), lambda ps: dl2.Adagrad(0.1, params=ps)),
        'adam': (torch.optim.Adam([tp], lr=0.01, eps=1e-7), lambda ps: dl2.Adam(0.01, params=ps)),
    }[name]
    p = p0.copy(); opt = opt_p([p])
    for g in gs:
        tp.grad = torch.tensor(g); topt.step(); opt.step([g])
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)

def test_adam_flushes_subnormal_averages():
    # a weight whose gradient is zero after one step: its first moment shrinks by beta_1 per step, 0.1 * 0.9**k,
    # which after 852 steps is subnormal in float32; the kernel stores 0 instead (subnormal arithmetic is slow)
    assert 1.4e-45 < 0.1 * 0.9 ** 852 < np.finfo(np.float32).tiny
    p = np.ones(4, np.float32); opt = dl2.Adam(params=[p]); opt.step([np.ones(4, np.float32)])
    for _ in range(852): opt.step([np.zeros(4, np.float32)])
    m, v = opt.state[0]
    assert np.all(m == 0) and np.all(v > 0)

def test_adam_keeps_nan_visible():
    # the flush must not swallow a NaN gradient: like PyTorch, the parameter becomes NaN (and TerminateOnNaN can stop)
    p = np.ones(3, np.float32); opt = dl2.Adam(params=[p]); opt.step([np.array([np.nan, 1, 0], np.float32)])
    assert np.isnan(p[0]) and np.isfinite(p[1:]).all()


def test_ema_follows_the_weights_and_is_copied_in_on_request():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(5); ref_w, avg = w.copy(), None
    opt = dl2.Adam(0.05, use_ema=True, ema_momentum=0.9, params=[w])
    plain = dl2.Adam(0.05, params=[ref_w])
    for t in range(1, 21):
        g = rng.standard_normal(5); opt.step([g]); plain.step([g.copy()])
        avg = ref_w.copy() if t == 1 else 0.9 * avg + 0.1 * ref_w
    np.testing.assert_allclose(w, ref_w, rtol=1e-12)            # the averages do not disturb training
    np.testing.assert_allclose(opt.averages[0], avg, rtol=1e-12)
    opt.finalize_variable_values(); np.testing.assert_allclose(w, avg, rtol=1e-12)
    w2 = np.ones(3); opt2 = dl2.SGD(0.1, params=[w2]); opt2.step([np.ones(3)]); opt2.finalize_variable_values()
    np.testing.assert_allclose(w2, 0.9)                          # without use_ema finalising changes nothing

def test_ema_arguments_checked_and_serialised():
    with pytest.raises(ValueError, match="ema_momentum"): dl2.SGD(use_ema=True, ema_momentum=-0.1)
    with pytest.raises(ValueError, match="ema_overwrite_frequency"): dl2.RMSprop(use_ema=True, ema_overwrite_frequency=2.5)
    with pytest.raises(TypeError): dl2.Adam(ema=True)
    opt = dl2.optim.deserialize(dl2.optim.serialize(dl2.Momentum(0.1, use_ema=True, ema_momentum=0.95, ema_overwrite_frequency=10)))
    assert (type(opt), opt.use_ema, opt.ema_momentum, opt.ema_overwrite_frequency) == (dl2.Momentum, True, 0.95, 10)
