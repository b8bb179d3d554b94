"Functional API: graphs of layer calls, merge layers, weight sharing, saving, and a cross-check with PyTorch."
import numpy as np, pytest
import dl2
from dl2.core import numerical_grad, rel_error
from conftest import digits

def check_model(model, xs, seed=0):
    "Normwise relative errors of the input gradient(s) and every parameter gradient, random upstream gradients."
    multi_in = isinstance(xs, list)
    xs = [np.array(x, np.float64) for x in (xs if multi_in else [xs])]
    arg = lambda: xs if multi_in else xs[0]
    outs = model(arg(), training=True)
    multi_out = isinstance(outs, list)
    rng = np.random.default_rng(seed)
    ds = [rng.standard_normal(o.shape) for o in (outs if multi_out else [outs])]
    def loss():
        o = model(arg(), training=True)
        return np.array(sum((a * d).sum() for a, d in zip(o if multi_out else [o], ds)))
    loss()
    dx = model.backward(ds if multi_out else ds[0])
    analytic = (dx if multi_in else [dx]) + list(model.grads)
    return [rel_error(g, numerical_grad(loss, a, np.ones(()))) for g, a in zip(analytic, xs + model.params)]

@pytest.fixture
def f64():
    with dl2.using_floatx('float64'): yield

def test_diamond_shared_and_two_by_two(f64):
    rng = np.random.default_rng(0)
    x = dl2.Input((4,))
    h = dl2.Dense(5, activation='tanh')(x)
    diamond = dl2.Model(x, dl2.Add()([dl2.Dense(3)(h), dl2.Dense(3, activation='relu')(h)]))
    shared = dl2.Dense(3, activation='tanh')
    sharing = dl2.Model(x, dl2.Multiply()([shared(dl2.Dense(3)(x)), shared(dl2.Dense(3)(x))]))
    assert len(sharing.layers) == 4 and len(sharing.params) == 6   # three Dense, the shared one counted once
    p, q = dl2.Input((3,)), dl2.Input((2,))
    c = dl2.Concatenate()([dl2.Dense(4)(p), q])
    two = dl2.Model([p, q], [dl2.Dense(1)(c), dl2.Subtract()([dl2.Dense(3)(q), p])])
    for m, xs in [(diamond, rng.standard_normal((6, 4))), (sharing, rng.standard_normal((6, 4))),
                  (two, [rng.standard_normal((6, 3)), rng.standard_normal((6, 2))])]:
        assert max(check_model(m, xs)) < 1e-7

@pytest.mark.parametrize('layer, shapes', [
    (dl2.Add, [(2, 3, 4)] * 3), (dl2.Subtract, [(2, 3, 4)] * 2), (dl2.Multiply, [(2, 3, 4), (2, 1, 4), (2, 3, 1)]),
    (dl2.Average, [(2, 3, 4)] * 3), (dl2.Maximum, [(2, 3, 4)] * 3), (lambda: dl2.Concatenate(axis=1), [(2, 3, 4), (2, 1, 4)])])
def test_merge_layers_gradient(f64, layer, shapes):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s) for s in shapes]
    m = layer()
    m(xs, training=True)
    dl2.grad_check(lambda: m(xs, training=True), m.backward, xs, [f"x{i}" for i in range(len(xs))])

def test_bad_graphs_are_refused_at_build_time():
    a, b = dl2.Input((3,)), dl2.Input((4,))
    with pytest.raises(ValueError, match="not among the inputs"): dl2.Model(a, dl2.Add()([a, dl2.Dense(3)(dl2.Input((2,)))]))
    with pytest.raises(ValueError, match=r"no output depends on the input\(s\)"): dl2.Model([a, b], dl2.Dense(2)(a))
    with pytest.raises(ValueError, match="Layer 'add.*': inputs must have the same shape"): dl2.Add()([a, b])
    with pytest.raises(ValueError, match="every other axis must match"):
        dl2.Concatenate()([dl2.Input((3, 2)), dl2.Input((4, 5))])
    with pytest.raises(ValueError, match="expected 2-D input"): dl2.Dense(2)(dl2.Input((3, 3)))

def test_save_load_and_old_sequential_files(tmp_path):
    x = dl2.Input((64,))
    h = dl2.Dense(16, activation='relu')(x)
    m = dl2.Model(x, dl2.Dense(10)(dl2.Concatenate()([h, dl2.Dense(4)(h)])))
    m.compile('adam', dl2.SparseCategoricalCrossentropy(from_logits=True))
    X, Y = digits()
    m.fit(X[:300], Y[:300], epochs=2, verbose=0)
    m.save(tmp_path / 'f.npz')
    again = dl2.load_model(tmp_path / 'f.npz')
    assert type(again) is dl2.Model and np.array_equal(again.predict(X[:50]), m.predict(X[:50]))
    assert again.optimizer.iterations == m.optimizer.iterations
    s = dl2.Sequential([dl2.Input((64,)), dl2.Dense(10)])
    s.save(tmp_path / 's.npz')
    assert type(dl2.load_model(tmp_path / 's.npz')) is dl2.Sequential

def test_a_chain_as_a_model_trains_like_the_same_sequential():
    X, Y = digits()
    def make(functional):
        dl2.set_seed(0)
        layers = [dl2.Dense(32, activation='relu'), dl2.Dense(10)]
        if functional:
            x = dl2.Input((64,))
            m = dl2.Model(x, layers[1](layers[0](x)))
        else: m = dl2.Sequential([dl2.Input((64,))] + layers)
        m.compile(dl2.Adam(0.01), dl2.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(X, Y, epochs=2, shuffle=False, verbose=0)
        return m
    a, b = make(True), make(False)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))

def test_two_inputs_train(tmp_path):
    X, Y = digits()
    a, b = dl2.Input((32,)), dl2.Input((32,))
    h = dl2.Concatenate()([dl2.Dense(16, activation='relu')(a), dl2.Dense(16, activation='relu')(b)])
    m = dl2.Model([a, b], dl2.Dense(10)(h))
    m.compile(dl2.Adam(0.01), dl2.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    xs = [X[:, :32], X[:, 32:]]
    hist = m.fit(xs, Y, epochs=3, batch_size=32, validation_split=0.2, sample_weight=np.ones(len(Y)), verbose=0)
    assert hist.history['loss'][-1] < hist.history['loss'][0] and hist.history['val_accuracy'][-1] > 0.5
    assert m.predict(xs).shape == (len(Y), 10) and m.predict_on_batch([x[:4] for x in xs]).shape == (4, 10)
    assert m.evaluate(xs, Y, verbose=0, return_dict=True)['accuracy'] > 0.5
    before = [w.copy() for w in m.get_weights()]
    for bad, match in [(X, "has 2 inputs; x must be a list of 2 arrays"), ([xs[0]], "x must be a list of 2 arrays"),
                       ([xs[0], xs[1][:-1]], "the inputs must have the same number of samples"),
                       ([xs[0], xs[1][:, :5]], r"input 1 of model .*: expected input shape \(None, 32\)")]:
        with pytest.raises(ValueError, match=match): m.fit(bad, Y, verbose=0)
    assert all(np.array_equal(u, v) for u, v in zip(before, m.get_weights()))
    m.save(tmp_path / 'two.npz')
    assert np.array_equal(dl2.load_model(tmp_path / 'two.npz').predict(xs), m.predict(xs))

def two_heads(seed=0):
    "A trunk with two outputs: the digit (10 logits) and its parity (1 logit)."
    dl2.set_seed(seed)
    x = dl2.Input((64,))
    h = dl2.Dense(16, activation='relu')(x)
    return dl2.Model(x, [dl2.Dense(10, name='digit')(h), dl2.Dense(1, name='even')(h)])

def test_several_outputs_train_on_the_weighted_sum_of_their_losses(tmp_path):
    X, Y = digits()
    E = (Y % 2 == 0).astype(np.float32)[:, None]
    m = two_heads()
    assert m.output_names == ['digit', 'even']
    m.compile(dl2.Adam(0.01), {'digit': dl2.SparseCategoricalCrossentropy(from_logits=True),
                               'even': dl2.BinaryCrossentropy(from_logits=True)},
              metrics={'digit': ['accuracy'], 'even': ['accuracy', 'mae']}, loss_weights=[1.0, 0.5])
    assert m.metrics == ['digit_accuracy', 'even_accuracy', 'even_mae']
    hist = m.fit(X, {'digit': Y, 'even': E}, epochs=4, validation_split=0.2, verbose=0,
                 callbacks=[dl2.EarlyStopping(monitor='val_even_loss', patience=5)]).history
    assert list(hist) == ['loss', 'digit_loss', 'even_loss', 'digit_accuracy', 'even_accuracy', 'even_mae',
                          'val_loss', 'val_digit_loss', 'val_even_loss', 'val_digit_accuracy', 'val_even_accuracy',
                          'val_even_mae']
    assert hist['loss'][-1] < hist['loss'][0] and hist['val_digit_accuracy'][-1] > 0.8
    logs = m.evaluate(X, [Y, E], verbose=0, return_dict=True)
    assert np.isclose(logs['loss'], logs['digit_loss'] + 0.5 * logs['even_loss'], rtol=1e-6)
    assert m.evaluate(X, [Y, E], verbose=0) == list(logs.values())
    p = m.predict(X)
    assert [a.shape for a in p] == [(len(X), 10), (len(X), 1)]
    assert np.isclose(logs['digit_accuracy'], (p[0].argmax(1) == Y).mean())
    assert np.isclose(logs['even_accuracy'], ((p[1][:, 0] > 0) == (E[:, 0] > 0.5)).mean())
    m.save(tmp_path / 'heads.npz')
    again = dl2.load_model(tmp_path / 'heads.npz')
    assert all(np.array_equal(a, b) for a, b in zip(again.predict(X), p))
    assert again.metrics == m.metrics and again.evaluate(X, [Y, E], verbose=0) == m.evaluate(X, [Y, E], verbose=0)
    assert [h[2] for h in again._heads] == [1.0, 0.5]
    for model in (m, again): model.fit(X, [Y, E], epochs=1, shuffle=False, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(again.get_weights(), m.get_weights()))  # resumed alike

def test_the_gradient_of_a_weighted_sum_is_the_weighted_sum_of_gradients(f64):
    X, Y = digits()
    X, Y, E = X[:32].astype(np.float64), Y[:32], (Y[:32] % 2).astype(np.float64)[:, None]
    w = np.random.default_rng(0).uniform(0.5, 2, 32)
    def grads(weights):
        m = two_heads()
        m.compile('sgd', [dl2.SparseCategoricalCrossentropy(from_logits=True),
                          dl2.BinaryCrossentropy(from_logits=True)], loss_weights=weights)
        loss, douts, _ = m.compute_loss([Y, E], m(X, training=True), w)
        m.backward(douts, need_dx=False)
        return m, loss, [g.copy() for g in m.grads]
    m, loss, g = grads([0.3, 2.0])
    _, la, ga = grads([1.0, 0.0])
    _, lb, gb = grads([0.0, 1.0])
    assert np.isclose(loss, 0.3 * la + 2.0 * lb)
    assert all(np.allclose(u, 0.3 * a + 2.0 * b, rtol=1e-12, atol=1e-14) for u, a, b in zip(g, ga, gb))
    total = lambda: np.array(m.compute_loss([Y, E], m(X, training=True), w, grad=False)[0])
    assert max(rel_error(u, numerical_grad(total, p, np.ones(()))) for u, p in zip(g, m.params)) < 1e-7

def test_several_outputs_bad_calls_change_nothing():
    X, Y = digits()
    E = (Y % 2 == 0).astype(np.float32)[:, None]
    m = two_heads()
    m.compile('adam', [dl2.SparseCategoricalCrossentropy(from_logits=True), 'mse'])
    m.fit(X[:64], [Y[:64], E[:64]], verbose=0)
    before, loss, heads = [w.copy() for w in m.get_weights()], m.loss, m._heads
    fits = [(lambda: m.fit(X, Y, verbose=0), "has 2 outputs"),
            (lambda: m.fit(X, [Y], verbose=0), "has 2 outputs"),
            (lambda: m.fit(X, {'digit': Y, 'odd': E}, verbose=0), "a key per output"),
            (lambda: m.fit(X, [Y, E[:-1]], verbose=0), "output 'even'.*same number of samples"),
            (lambda: m.fit(X, [Y + 10, E], verbose=0), "output 'digit'"),
            (lambda: m.fit(X, [Y, np.ones((len(Y), 3))], verbose=0), "output 'even'"),
            (lambda: m.fit(X, [Y, E], class_weight={0: 2.0}, verbose=0), "class_weight is for a model with one"),
            (lambda: m.fit(X, [Y, E], validation_data=(X, [Y]), verbose=0), "has 2 outputs"),
            (lambda: m.evaluate(X, [Y, E[:, :0]], verbose=0), "output 'even'"),
            (lambda: m.compile('adam', ['mse']), "one entry per output"),
            (lambda: m.compile('adam', {'digit': 'mse'}), "a key per output"),
            (lambda: m.compile('adam', 'mse', loss_weights={'dig': 1.0}), "a key per output"),
            (lambda: m.compile('adam', 'mse', loss_weights=[1.0, -1.0]), "loss_weights\\['even'\\]"),
            (lambda: m.compile('adam', 'mse', metrics=['mae']), "one entry per output"),
            (lambda: m.compile('adam', ['mse', 'mse'], metrics=[['accuracy'], []]), "needs a cross-entropy"),
            (lambda: m.compile('adam', [None, 'mse']), "output 'digit': compile needs a loss")]
    for call, match in fits:
        with pytest.raises((ValueError, TypeError), match=match): call()
        assert m.loss is loss and m._heads is heads
        assert all(np.array_equal(u, v) for u, v in zip(before, m.get_weights()))
    x = dl2.Input((3,))
    one = dl2.Model(x, dl2.Dense(1)(x))
    with pytest.raises(ValueError, match="loss_weights is for a model with several outputs"):
        one.compile('sgd', 'mse', loss_weights=[2.0])
    assert one.loss is None

def test_residual_network_matches_torch_autograd(f64):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(2)
    x_in = dl2.Input((6, 6, 3))
    c1 = dl2.Conv2D(4, 3, padding='same', activation='relu')
    c2 = dl2.Conv2D(4, 3, padding='same')
    proj = dl2.Conv2D(4, 1, strides=1)
    y = dl2.ReLU()(dl2.Add()([c2(c1(x_in)), proj(x_in)]))
    head = dl2.Dense(3)
    m = dl2.Model(x_in, head(dl2.GlobalAveragePooling2D()(y)))
    x = rng.standard_normal((2, 6, 6, 3))
    dout = rng.standard_normal((2, 3))
    out = m(x, training=True)
    dx = m.backward(dout)
    # the same graph and weights in PyTorch (NCHW; Keras kernels (KH, KW, Cin, Cout) -> (Cout, Cin, KH, KW))
    T = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tk = {l.name: [T(w) for w in l.params] for l in (c1, c2, proj, head)}
    conv = lambda t, l, pad: torch.nn.functional.conv2d(t, tk[l.name][0].permute(3, 2, 0, 1), tk[l.name][1], padding=pad)
    tx = T(x)
    xc = tx.permute(0, 3, 1, 2)
    r = torch.relu(conv(torch.relu(conv(xc, c1, 1)), c2, 1) + conv(xc, proj, 0))
    tout = r.mean(dim=(2, 3)) @ tk[head.name][0] + tk[head.name][1]
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for l in (c1, c2, proj, head):
        for g, t in zip(l.grads, tk[l.name]): np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)

def test_an_identity_model():
    x = dl2.Input((3,))
    m = dl2.Model(x, x)
    a = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(m.predict(a), a.astype(np.float32)) and m.count_params() == 0

def test_making_a_model_keeps_each_layers_trainable_switch():
    x = dl2.Input((3,))
    frozen, free = dl2.Dense(4), dl2.Dense(2)
    y = frozen(x)
    frozen.trainable = False
    m = dl2.Model(x, free(y))
    assert not frozen.trainable and free.trainable and m.trainable
    assert all(p is not frozen.kernel for p in m.params)
    x2 = dl2.Input((3,))
    d = dl2.Dense(2)
    m2 = dl2.Model(x2, d(x2), trainable=False)
    assert not m2.trainable and not d.trainable and m2.params == []
