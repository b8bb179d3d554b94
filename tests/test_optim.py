"Optimizer update rules against hand-computed values, and against PyTorch when it is installed."
import json, re
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
    ema = dict(weight_decay=0.0, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, lookahead_steps=None,
               lookahead_alpha=0.5, bias_scaler=1.0)
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
    with pytest.raises(ValueError, match="Unknown optimizer 'lbfgs'.*adagrad"): dl2.optim.get('lbfgs')

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


# ---- learning-rate schedules (Keras' formulas) ----

S = dl2.optimizers.schedules

def test_schedules_namespace():
    assert S.CosineDecay is dl2.CosineDecay is dl2.optim.CosineDecay
    assert {'LearningRateSchedule', 'ExponentialDecay', 'CosineDecay', 'PiecewiseConstantDecay'} <= set(vars(S))
    assert dl2.optimizers.Adam is dl2.Adam

def test_exponential_decay_formula():
    s = S.ExponentialDecay(0.1, decay_steps=7, decay_rate=0.6)
    for t in [0, 1, 6, 7, 8, 20]:
        assert s(t) == pytest.approx(0.1 * 0.6 ** (t / 7), rel=1e-14)
    st = S.ExponentialDecay(0.1, decay_steps=7, decay_rate=0.6, staircase=True)
    assert [st(t) for t in (0, 6, 7, 13, 14)] == pytest.approx([0.1, 0.1, 0.06, 0.06, 0.036], rel=1e-14)
    np.testing.assert_allclose(st(np.array([0, 7, 14])), [0.1, 0.06, 0.036], rtol=1e-14)
    assert isinstance(s(3), float) and isinstance(s(np.int64(3)), float)

def test_cosine_decay_formula_keras3():
    # without warm-up: decay from initial_learning_rate to alpha * initial over decay_steps, then flat
    s = S.CosineDecay(0.2, decay_steps=10, alpha=0.25)
    for t in [0, 3, 10, 15]:
        c = 0.5 * (1 + np.cos(np.pi * min(t, 10) / 10))
        assert s(t) == pytest.approx(0.2 * ((1 - 0.25) * c + 0.25), rel=1e-14)
    # with warm-up: linear from initial to warmup_target in warmup_steps, then cosine from warmup_target
    w = S.CosineDecay(0.01, decay_steps=10, alpha=0.1, warmup_target=0.5, warmup_steps=4)
    assert [w(t) for t in (0, 1, 2, 3)] == pytest.approx([0.01 + 0.49 * t / 4 for t in range(4)], rel=1e-14)
    for t in [4, 6, 9, 14, 100]:
        c = 0.5 * (1 + np.cos(np.pi * min(t - 4, 10) / 10))
        assert w(t) == pytest.approx(0.5 * ((1 - 0.1) * c + 0.1), rel=1e-14)
    # warmup_target without warmup_steps: the decay starts from warmup_target (Keras 3)
    assert S.CosineDecay(0.01, 10, warmup_target=0.5)(0) == pytest.approx(0.5)

def test_piecewise_constant_boundaries_as_keras():
    s = S.PiecewiseConstantDecay([3, 5], [1.0, 0.5, 0.1])
    assert [s(t) for t in range(8)] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.1, 0.1]   # step <= boundary: that value

@pytest.mark.parametrize('make, message', [
    (lambda: S.ExponentialDecay(0.1, 0, 0.5), "ExponentialDecay: decay_steps must be a positive integer, received 0"),
    (lambda: S.ExponentialDecay(0.1, 2.5, 0.5), "decay_steps must be a positive integer"),
    (lambda: S.ExponentialDecay(0.1, 10, -0.5), "decay_rate must be a positive number"),
    (lambda: S.ExponentialDecay(-0.1, 10, 0.5), "initial_learning_rate must be a positive number"),
    (lambda: S.ExponentialDecay('0.1', 10, 0.5), "initial_learning_rate must be a positive number, received '0.1'"),
    (lambda: S.CosineDecay(0.1, -5), "CosineDecay: decay_steps must be a positive integer"),
    (lambda: S.CosineDecay(0.1, 10, alpha=1.5), "alpha must be a number in [0, 1]"),
    (lambda: S.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1), "warmup_steps must be a non-negative integer"),
    (lambda: S.CosineDecay(0.1, 10, warmup_target=float('nan'), warmup_steps=3), "warmup_target must be"),
    (lambda: S.CosineDecay(0.1, 10, warmup_steps=3), "needs a warmup_target"),
    (lambda: S.PiecewiseConstantDecay([5], [0.1]), "one element more than boundaries"),
    (lambda: S.PiecewiseConstantDecay([5, 5], [0.1, 0.2, 0.3]), "increase strictly"),
    (lambda: S.PiecewiseConstantDecay([5], [0.1, -1.0]), "values[1] must be a non-negative number"),
])
def test_schedule_arguments_checked(make, message):
    with pytest.raises(ValueError, match=re.escape(message)): make()

def test_optimizer_evaluates_the_schedule_at_iterations_before_the_update():
    s = S.PiecewiseConstantDecay([0, 1], [0.5, 0.25, 0.125])
    p = np.zeros(1); opt = dl2.SGD(s, params=[p])
    assert opt.learning_rate == 0.5                       # what the first step will use: s(0)
    for _ in range(4): opt.step([np.ones(1)])
    assert p[0] == pytest.approx(-(0.5 + 0.25 + 0.125 + 0.125))
    assert opt.iterations == 4 and opt.learning_rate == 0.125
    with pytest.raises(TypeError, match="comes from a schedule"): opt.learning_rate = 0.1
    plain = dl2.Adam(0.01); plain.learning_rate = 0.02; assert plain.learning_rate == 0.02
    with pytest.raises(ValueError, match="positive number or a LearningRateSchedule"): plain.learning_rate = 0.0
    with pytest.raises(ValueError, match="positive number or a LearningRateSchedule"): dl2.SGD(lambda t: 0.1)

def test_adam_with_a_schedule_matches_the_rule_with_that_rate():
    rng = np.random.default_rng(1); gs = rng.standard_normal((6, 4))
    s = S.CosineDecay(0.0, 4, warmup_target=0.05, warmup_steps=2)
    p = rng.standard_normal(4); ref = p.copy(); m, v = np.zeros(4), np.zeros(4)
    opt = dl2.Adam(s, params=[p])
    for t, g in enumerate(gs, 1):
        opt.step([g]); dl2.optim.adam_update(ref, g, m, v, s(t - 1), 0.9, 0.999, 1e-7, t)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-14)

@pytest.mark.parametrize('schedule', [S.ExponentialDecay(0.1, 10, 0.9, staircase=True),
                                      S.CosineDecay(0.0, 100, alpha=0.1, warmup_target=0.01, warmup_steps=5),
                                      S.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001])])
def test_optimizer_with_schedule_round_trips(schedule):
    opt = dl2.Momentum(schedule, nesterov=True, use_ema=True)
    for _ in range(3): opt.iterations += 1
    d = json.loads(json.dumps(dl2.optim.serialize(opt)))          # what a saved model stores
    back = dl2.optim.deserialize(d)
    assert type(back) is dl2.Momentum and type(back.get_config()) is dict and back.get_config() == opt.get_config()
    assert type(back._learning_rate) is type(schedule)
    steps = np.arange(40)
    np.testing.assert_array_equal(back._learning_rate(steps), schedule(steps))
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'Poly'"):
        dl2.Adam.from_config(dict(learning_rate=dict(class_name='Poly', config={})))

def test_model_saves_an_optimizer_with_a_schedule(tmp_path):
    X = np.random.default_rng(0).standard_normal((32, 3)).astype(np.float32); y = X.sum(1, keepdims=True)
    m = dl2.Sequential([dl2.Input((3,)), dl2.Dense(1)])
    m.compile(dl2.Adam(S.CosineDecay(0.05, 20)), 'mse'); m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    m.save(tmp_path / 'm.keras')
    m2 = dl2.load_model(tmp_path / 'm.keras')
    assert m2.optimizer.get_config() == m.optimizer.get_config()
    assert isinstance(m2.optimizer._learning_rate, S.CosineDecay)

def _torch_schedule_pair(torch, name, tp):
    "A torch optimizer with an lr_scheduler and the dl2 schedule that should give the same rates."
    sched = torch.optim.lr_scheduler
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    if name == 'exponential':
        return topt, sched.ExponentialLR(topt, gamma=0.8), S.ExponentialDecay(0.1, 1, 0.8)
    if name == 'cosine':      # within T_max: past it torch's cosine climbs again, Keras' stays at alpha
        return topt, sched.CosineAnnealingLR(topt, T_max=8, eta_min=0.02), S.CosineDecay(0.1, 8, alpha=0.2)
    if name == 'multistep':   # torch changes the rate at the milestone, Keras one step after the boundary
        return topt, sched.MultiStepLR(topt, [3, 5], gamma=0.5), S.PiecewiseConstantDecay([2, 4], [0.1, 0.05, 0.025])
    if name == 'warmup_cosine':
        warm = sched.LinearLR(topt, start_factor=0.2, end_factor=1.0, total_iters=3)
        cos = sched.CosineAnnealingLR(topt, T_max=5, eta_min=0.0)
        return topt, sched.SequentialLR(topt, [warm, cos], milestones=[3]), \
            S.CosineDecay(0.02, 5, warmup_target=0.1, warmup_steps=3)

@pytest.mark.parametrize('name', ['exponential', 'cosine', 'multistep', 'warmup_cosine'])
def test_schedules_against_pytorch(name):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0); p0 = rng.standard_normal(5); gs = rng.standard_normal((8, 5))
    tp = torch.tensor(p0.copy(), requires_grad=True)
    topt, tsched, schedule = _torch_schedule_pair(torch, name, tp)
    p = p0.copy(); opt = dl2.SGD(schedule, momentum=0.9, params=[p])
    for g in gs:
        assert opt.learning_rate == pytest.approx(topt.param_groups[0]['lr'], rel=1e-12)
        tp.grad = torch.tensor(g); topt.step(); tsched.step(); opt.step([g])
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---- weight decay: PyTorch's documented rules ----

def _two_steps(make, g=0.5):
    p = np.array([1.0]); opt = make([p])
    for _ in range(2): opt.step([np.array([g])])
    return p[0]

def test_weight_decay_by_hand():
    # p = 1, g = 0.5, lr = 0.1, wd = 0.5, eps = 0
    # SGD: g' = 0.5 + 0.5 * 1 = 1 -> p = 0.9; g' = 0.5 + 0.45 = 0.95 -> p = 0.805
    assert _two_steps(lambda ps: dl2.SGD(0.1, params=ps, weight_decay=0.5)) == pytest.approx(0.805, abs=1e-15)
    # momentum 0.9: v = 1 -> p = 0.9; v = 0.9 + 0.95 = 1.85 -> p = 0.715
    assert _two_steps(lambda ps: dl2.SGD(0.1, 0.9, params=ps, weight_decay=0.5)) == pytest.approx(0.715, abs=1e-15)
    # AdamW: p = 0.95, then exactly lr (m_hat = g, v_hat = g^2) -> 0.85; p = 0.85 * 0.95 = 0.8075, then -0.1 -> 0.7075
    adamw = lambda ps: dl2.AdamW(0.1, weight_decay=0.5, epsilon=0.0, params=ps)
    assert _two_steps(adamw) == pytest.approx(0.7075, abs=1e-15)
    # Adam with L2: g' = 1 then 0.95; m2 = 0.09 + 0.095 = 0.185, v2 = 0.000999 + 0.0009025 = 0.0019015
    expected = 0.9 - 0.1 * (0.185 / (1 - 0.81)) / np.sqrt(0.0019015 / (1 - 0.998001))
    assert _two_steps(lambda ps: dl2.Adam(0.1, epsilon=0.0, params=ps, weight_decay=0.5)) == pytest.approx(expected, abs=1e-14)
    # RMSprop, one step: s = 0.1 * 1^2 -> p = 1 - 0.1 * 1 / sqrt(0.1)
    p = np.array([1.0]); dl2.RMSprop(0.1, rho=0.9, epsilon=0.0, params=[p], weight_decay=0.5).step([np.array([0.5])])
    assert p[0] == pytest.approx(1 - 0.1 / np.sqrt(0.1), abs=1e-15)
    # Adagrad, one step: s = 0.1 + 1 -> p = 1 - 0.1 / sqrt(1.1)
    p = np.array([1.0]); dl2.Adagrad(0.1, epsilon=0.0, params=[p], weight_decay=0.5).step([np.array([0.5])])
    assert p[0] == pytest.approx(1 - 0.1 / np.sqrt(1.1), abs=1e-15)

def test_adamw_defaults_and_names():
    opt = dl2.optim.get('adamw')
    assert type(opt) is dl2.AdamW and opt.weight_decay == 0.01 and opt.learning_rate == 0.001   # PyTorch's defaults
    assert dl2.AdamW(2e-3, 0.05).weight_decay == 0.05                                            # Keras' argument order
    back = dl2.optim.deserialize(json.loads(json.dumps(dl2.optim.serialize(dl2.AdamW(weight_decay=0.02, beta_1=0.5)))))
    assert type(back) is dl2.AdamW and back.get_config() == dl2.AdamW(weight_decay=0.02, beta_1=0.5).get_config()
    assert dl2.Momentum(weight_decay=0.1).get_config()['weight_decay'] == 0.1
    assert dl2.AdamW(weight_decay=0.0).get_config()['weight_decay'] == 0.0

@pytest.mark.parametrize('bad', [-0.1, float('nan'), float('inf'), '0.1', True, None])
def test_weight_decay_checked(bad):
    with pytest.raises(ValueError, match=re.escape(f"weight_decay must be a non-negative number, received {bad!r}")):
        dl2.RMSprop(weight_decay=bad)

def test_weight_decay_zero_does_no_extra_work():
    class Spy(dl2.Adam):
        def apply_weight_decay(self, p, g, lr, wd): raise AssertionError('called')
    Spy(params=[np.ones(3)]).step([np.ones(3)])                                 # wd = 0: never called
    with pytest.raises(AssertionError, match='called'): Spy(params=[np.ones(3)], weight_decay=0.1).step([np.ones(3)])

def test_weight_decay_keeps_float32_and_leaves_the_gradient_alone():
    p = np.ones(4, np.float32); g = np.ones(4, np.float32)
    for opt in [dl2.SGD(0.1, params=[p], weight_decay=0.1), dl2.AdamW(0.1, params=[p])]:
        opt.step([g])
        assert p.dtype == np.float32 and (g == 1).all()

def test_sgd_l2_equals_decoupled_decay():
    rng = np.random.default_rng(3); p = rng.standard_normal(6); q = p.copy(); gs = rng.standard_normal((4, 6))
    opt = dl2.SGD(0.05, params=[p], weight_decay=0.2)
    for g in gs:
        opt.step([g]); q *= 1 - 0.05 * 0.2; q -= 0.05 * g
    np.testing.assert_allclose(p, q, rtol=1e-14)

def _torch_pair(torch, name, tp, schedule=False):
    "A torch.optim optimizer and the dl2 one that should follow it step for step (float64)."
    O = torch.optim
    pairs = {
        'sgd':        (lambda: O.SGD([tp], lr=0.1, weight_decay=0.05),
                       lambda ps, lr: dl2.SGD(lr, params=ps, weight_decay=0.05)),
        'momentum':   (lambda: O.SGD([tp], lr=0.1, momentum=0.9, weight_decay=0.05),
                       lambda ps, lr: dl2.Momentum(lr, params=ps, weight_decay=0.05)),
        'nesterov':   (lambda: O.SGD([tp], lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
                       lambda ps, lr: dl2.SGD(lr, 0.8, True, params=ps, weight_decay=0.05)),
        'rmsprop':    (lambda: O.RMSprop([tp], lr=0.01, alpha=0.9, eps=1e-7, weight_decay=0.1),
                       lambda ps, lr: dl2.RMSprop(lr, rho=0.9, params=ps, weight_decay=0.1)),
        'adagrad':    (lambda: O.Adagrad([tp], lr=0.1, initial_accumulator_value=0.1, eps=1e-7, weight_decay=0.1),
                       lambda ps, lr: dl2.Adagrad(lr, params=ps, weight_decay=0.1)),
        'adam':       (lambda: O.Adam([tp], lr=0.01, eps=1e-7, weight_decay=0.1),
                       lambda ps, lr: dl2.Adam(lr, params=ps, weight_decay=0.1)),
        'adamw':      (lambda: O.AdamW([tp], lr=0.01, eps=1e-7),                     # torch's default weight_decay
                       lambda ps, lr: dl2.AdamW(lr, params=ps)),
        'adamw_big':  (lambda: O.AdamW([tp], lr=0.05, betas=(0.5, 0.99), eps=1e-7, weight_decay=2.0),
                       lambda ps, lr: dl2.AdamW(lr, 2.0, beta_1=0.5, beta_2=0.99, params=ps)),
    }
    make_t, make_d = pairs[name]
    topt = make_t()
    lr0 = topt.param_groups[0]['lr']
    if not schedule: return topt, None, lambda ps: make_d(ps, lr0)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, eta_min=lr0 * 0.1)
    return topt, tsched, lambda ps: make_d(ps, S.CosineDecay(lr0, 10, alpha=0.1))

@pytest.mark.parametrize('schedule', [False, True], ids=['constant', 'cosine'])
@pytest.mark.parametrize('name', ['sgd', 'momentum', 'nesterov', 'rmsprop', 'adagrad', 'adam', 'adamw', 'adamw_big'])
def test_weight_decay_against_pytorch(name, schedule):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0); p0 = rng.standard_normal(7); gs = rng.standard_normal((8, 7))
    tp = torch.tensor(p0.copy(), dtype=torch.float64, requires_grad=True)
    topt, tsched, make = _torch_pair(torch, name, tp, schedule)
    p = p0.copy(); opt = make([p])
    for g in gs:
        tp.grad = torch.tensor(g); topt.step(); opt.step([g])
        if tsched: tsched.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    ref = p0.copy(); plain = make([ref])
    plain.weight_decay = 0.0
    for g in gs: plain.step([g])
    assert np.abs(ref - p).max() > 1e-6          # the decay made a difference that torch agrees with


@pytest.mark.parametrize('cls', [dl2.SGD, dl2.Adam, dl2.AdamW, dl2.RMSprop])
def test_bias_scaler_is_a_rate_and_decay_for_vectors_only(cls):
    "With bias_scaler s, a 1-D parameter steps as with rate s*lr and decay wd/s; other arrays as without s."
    rng = np.random.default_rng(1)
    k, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    k2, b2, b0 = k.copy(), b.copy(), b.copy()
    a = cls(0.01, params=[k, b], weight_decay=0.05, bias_scaler=8.0)
    ref_k, ref_b = cls(0.01, params=[k2], weight_decay=0.05), cls(0.08, params=[b2], weight_decay=0.05 / 8)
    for _ in range(4):
        gk, gb = rng.standard_normal((2, 3)), rng.standard_normal(3)
        a.step([gk, gb]); ref_k.step([gk]); ref_b.step([gb])
    np.testing.assert_allclose(k, k2, rtol=1e-13)
    np.testing.assert_allclose(b, b2, rtol=1e-13)
    assert np.abs(b - b0).max() > 1e-3  # it did move

@pytest.mark.parametrize('bad', [0, -1.0, float('nan'), '2'])
def test_bias_scaler_checked(bad):
    with pytest.raises(ValueError, match="bias_scaler must be a positive number"): dl2.SGD(bias_scaler=bad)

def test_piecewise_linear_decay_saved_with_the_model(tmp_path):
    sched = dl2.PiecewiseLinearDecay([0, 10, 40], [0.02, 0.1, 0.007])
    m = dl2.Sequential([dl2.Input((3,)), dl2.Dense(2)])
    m.compile(dl2.SGD(sched, momentum=0.85, nesterov=True, bias_scaler=64.0), 'mse')
    m.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=2, batch_size=4, verbose=0)
    m.save(tmp_path / 'm.npz')
    back = dl2.load_model(tmp_path / 'm.npz')
    assert back.optimizer.bias_scaler == 64.0 and back.optimizer.iterations == 4
    assert back.optimizer.learning_rate == pytest.approx(sched(4)) == pytest.approx(0.02 + 0.08 * 0.4)
