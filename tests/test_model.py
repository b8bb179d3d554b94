"Sequential: training, evaluation, summary, saving, callbacks, progress output and every bad input."
import json, numpy as np, pytest, warnings
import dl2
from conftest import digits

def mlp(**kw):
    dl2.set_seed(0)
    m = dl2.Sequential([dl2.Input((64,)), dl2.Dense(32, activation='relu'), dl2.Dense(10)], **kw)
    m.compile(optimizer='adam', loss=dl2.SparseCategoricalCrossentropy(from_logits=True))
    return m

def test_fit_lowers_the_loss_on_real_data():
    X, y = digits()
    m = mlp(); h = m.fit(X[:1400], y[:1400], epochs=8, validation_data=(X[1400:], y[1400:]), verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0] / 3
    assert set(h.history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'} and len(h.epoch) == 8
    assert h.history['val_accuracy'][-1] > 0.8
    loss, acc = m.evaluate(X[1400:], y[1400:], verbose=0)
    assert loss == pytest.approx(h.history['val_loss'][-1]) and acc == pytest.approx(h.history['val_accuracy'][-1])

def test_one_hot_and_binary_targets():
    X, y = digits()
    dl2.set_seed(0)
    m = dl2.Sequential([dl2.Input((64,)), dl2.Dense(10, activation='softmax')])
    m.compile(dl2.Adam(learning_rate=0.01), 'categorical_crossentropy')
    h = m.fit(X, np.eye(10)[y], epochs=3, verbose=0)
    assert h.history['accuracy'][-1] > 0.8
    b = dl2.Sequential([dl2.Input((64,)), dl2.Dense(1, activation='sigmoid')])
    b.compile(dl2.Adam(learning_rate=0.01), 'binary_crossentropy')
    h = b.fit(X, (y == 3).astype(float), epochs=5, verbose=0)     # (N,) targets for a (N, 1) output
    assert h.history['accuracy'][-1] > 0.95

def test_validation_split_uses_the_last_samples():
    X, y = digits()
    m = mlp(); h = m.fit(X[:100], y[:100], epochs=1, validation_split=0.25, verbose=0)
    assert h.history['val_loss'][0] == pytest.approx(m._evaluate(X[75:100], y[75:100])['loss'], rel=0.5)

def test_predict_is_batched_and_in_inference_mode():
    X, _ = digits()
    X, m = X[:300], mlp()
    # against calls on the same batches of 7: BLAS may sum in another order for 7 rows than for 300
    np.testing.assert_array_equal(m.predict(X, batch_size=7),
                                  np.concatenate([m(X[i:i + 7]) for i in range(0, 300, 7)]))

def test_save_load_bit_identical(tmp_path):
    X, y = digits()
    m = mlp(); m.fit(X[:500], y[:500], epochs=1, verbose=0)
    m.save(tmp_path / 'm.npz')
    m2 = dl2.load_model(tmp_path / 'm.npz')
    np.testing.assert_array_equal(m2.predict(X), m.predict(X))
    assert [type(l) for l in m2.layers] == [type(l) for l in m.layers]
    assert m2.optimizer.get_config() == m.optimizer.get_config() and type(m2.loss) is type(m.loss)
    with np.load(tmp_path / 'm.npz', allow_pickle=False) as z: assert json.loads(str(z['__dl2__']))['format'] == 'dl2.model'
    m2.fit(X[:100], y[:100], epochs=1, verbose=0)      # a loaded model trains

def test_save_load_weights(tmp_path):
    m, m2 = mlp(), mlp()
    m.layers[0].kernel[:] = 1.5
    m.save_weights(tmp_path / 'w.npz'); m2.load_weights(tmp_path / 'w.npz')
    for a, b in zip(m.get_weights(), m2.get_weights()): np.testing.assert_array_equal(a, b)
    other = dl2.Sequential([dl2.Input((64,)), dl2.Dense(16), dl2.Dense(10)])
    with pytest.raises(ValueError, match=r"weight 'dense/kernel' has shape \(64, 32\) in the file, the model expects \(64, 16\)"):
        other.load_weights(tmp_path / 'w.npz')

def test_loading_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.npz'): dl2.load_model(tmp_path / 'nope.npz')
    (tmp_path / 'junk.npz').write_bytes(b'garbage')
    with pytest.raises(ValueError, match='is not a dl2 model file'): dl2.load_model(tmp_path / 'junk.npz')
    np.savez(tmp_path / 'plain.npz', a=np.zeros(3))
    with pytest.raises(ValueError, match='is not a dl2 model file'): dl2.load_model(tmp_path / 'plain.npz')

SUMMARY = '''Model: "sequential"
_________________________________________________________________
 Layer (type)                 Output Shape              Param #
=================================================================
 dense (Dense)                (None, 50)                39250
 dense_1 (Dense)              (None, 40)                2040
 dense_2 (Dense)              (None, 10)                410
=================================================================
Total params: 41,700
Trainable params: 41,700
Non-trainable params: 0
_________________________________________________________________'''

def test_summary_text():
    m = dl2.Sequential([dl2.Input((784,)), dl2.Dense(50, activation='relu'), dl2.Dense(40, activation='relu'), dl2.Dense(10)])
    lines = []; m.summary(print_fn=lines.append)
    assert '\n'.join(lines) == SUMMARY
    assert m.count_params() == 41700

def test_sequential_is_a_layer_and_returns_the_input_gradient(f64, rng):
    a = dl2.Sequential([dl2.Input((3,)), dl2.Dense(4, activation='tanh')])
    b = dl2.Sequential([dl2.Input((4,)), dl2.Dense(2, activation='sigmoid')])
    outer = dl2.Sequential([a, b])
    dl2.check_layer(outer, rng.standard_normal((5, 3)))
    assert len(outer.params) == 4 and outer.output_shape == (None, 2)

def test_callbacks(tmp_path, capsys):
    X, y = digits()
    m = mlp(); es = dl2.EarlyStopping(monitor='val_loss', patience=1, restore_best_weights=True)
    ck = dl2.ModelCheckpoint(str(tmp_path / 'best.npz'), save_best_only=True)
    h = m.fit(X[:1000], y[:1000], epochs=300, validation_data=(X[1000:], y[1000:]), callbacks=[es, ck], verbose=0)
    assert len(h.epoch) < 300 and es.stopped_epoch is not None
    best = dl2.load_model(tmp_path / 'best.npz')
    assert best.evaluate(X[1000:], y[1000:], verbose=0)[0] == pytest.approx(es.best, rel=1e-6)
    assert m.evaluate(X[1000:], y[1000:], verbose=0)[0] == pytest.approx(es.best, rel=1e-6)

def test_terminate_on_nan(capsys):
    X, y = digits()
    dl2.set_seed(0)
    m = dl2.Sequential([dl2.Input((64,)), dl2.Dense(10)])
    m.compile(dl2.SGD(learning_rate=5.0), 'mse')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        h = m.fit(X, np.eye(10)[y], epochs=5, callbacks=[dl2.TerminateOnNaN()], verbose=0)
    assert len(h.epoch) == 1 and not np.isfinite(h.history['loss'][0])
    assert 'TerminateOnNaN' in capsys.readouterr().out

def test_learning_rate_scheduler():
    X, y = digits()
    m = mlp(); m.fit(X[:64], y[:64], epochs=3, callbacks=[dl2.LearningRateScheduler(lambda e, lr: 0.1 / (e + 1))], verbose=0)
    assert m.optimizer.learning_rate == pytest.approx(0.1 / 3)

def test_progress_in_a_log_is_one_line_per_epoch(capsys):
    X, y = digits()
    mlp().fit(X[:200], y[:200], epochs=3, verbose=1)
    out = capsys.readouterr().out
    assert '\r' not in out and len(out.strip().splitlines()) == 3 and out.startswith('Epoch 1/3')

@pytest.mark.parametrize('call, match', [
    (lambda m, X, y: m.fit(X, y[:-1]), 'same number of samples, received 1797 and 1796'),
    (lambda m, X, y: m.fit(X[:, :60], y), r"fit: layer 'dense' of model 'sequential': expected input shape \(None, 64\), received \(1797, 60\)"),
    (lambda m, X, y: m.predict(X[:, None]), r"predict: layer 'dense' of model 'sequential': expected input shape \(None, 64\), received \(1797, 1, 64\)"),
    (lambda m, X, y: m.fit(X, y, validation_split=1.5), 'validation_split must be in'),
    (lambda m, X, y: m.compile('lion', 'mse'), "Unknown optimizer 'lion'"),
    (lambda m, X, y: m.compile('adam', 'hinge'), "Unknown loss 'hinge'"),
    (lambda m, X, y: m.compile('adam', 'mse', metrics=['auc']), "Unknown metric 'auc'"),
    (lambda m, X, y: m.set_weights([np.zeros(3)]), 'expected 4 arrays, received 1'),
    (lambda m, X, y: m.layers[0].set_weights([np.zeros((3, 3)), np.zeros(32)]), r"Layer 'dense': set_weights expected shape \(64, 32\), received \(3, 3\)"),
    (lambda m, X, y: m.fit(X, y + 10), r'labels must be integers in \[0, 10\)'),
    (lambda m, X, y: m.backward(np.zeros((3, 10))), 'backward called before a forward pass'),
    (lambda m, X, y: dl2.Dense(3, activation='swish'), "Unknown activation 'swish'.*relu"),
    (lambda m, X, y: dl2.Dense(0), 'units must be a positive int'),
])
def test_bad_input(call, match):
    X, y = digits()
    m = mlp()
    with pytest.raises(ValueError, match=match): call(m, X, y)

def test_fit_with_ema_ends_at_the_averaged_weights():
    "Keras' use_ema: the averages follow training and replace the weights when fit ends."
    x, y = digits()
    m = dl2.Sequential([dl2.Input((64,)), dl2.Dense(10, activation='softmax')])
    m.compile(dl2.SGD(0.1, use_ema=True, ema_momentum=0.9), 'sparse_categorical_crossentropy', metrics=['accuracy'])
    before = m.get_weights()
    m.fit(x[:256], y[:256], batch_size=32, epochs=10, verbose=0)
    for p, a, b in zip(m.params, m.optimizer.averages, before):
        np.testing.assert_array_equal(p, a); assert not np.array_equal(p, b)
    assert m.evaluate(x[:256], y[:256], verbose=0)[1] > 0.8   # the average lags the weights, but it has learnt

def test_callbacks_print_keras_messages(tmp_path, capsys):
    X, y = digits()
    m = mlp(); es = dl2.EarlyStopping(patience=0, restore_best_weights=True, verbose=1)
    ck = dl2.ModelCheckpoint(tmp_path / 'm-{epoch}.npz', verbose=1)
    m.fit(X[:300], y[:300], epochs=300, validation_data=(X[300:600], y[300:600]), callbacks=[es, ck], verbose=0)
    out = capsys.readouterr().out
    assert f"Epoch {es.stopped_epoch + 1}: early stopping" in out
    assert f"Restoring model weights from the end of the best epoch: {es.best_epoch + 1}." in out
    assert f"Epoch 1: saving model to {tmp_path / 'm-1.npz'}" in out and (tmp_path / 'm-1.npz').exists()
    silent = dl2.EarlyStopping(patience=0)
    m.fit(X[:300], y[:300], epochs=3, validation_data=(X[300:600], y[300:600]), callbacks=[silent], verbose=0)
    assert capsys.readouterr().out == ''

def _optimizer_state(opt):
    return dict(iterations=opt.iterations, learning_rate=opt.learning_rate,
                state=[[s.copy() for s in st] for st in opt.state], averages=[a.copy() for a in opt.averages])

@pytest.mark.parametrize('make_opt', [lambda: dl2.Adam(0.01), lambda: dl2.SGD(0.05, momentum=0.9, use_ema=True)])
def test_lr_find_restores_weights_and_optimizer(make_opt):
    X, y = digits()
    dl2.set_seed(0)
    m = dl2.Sequential([dl2.Input((64,)), dl2.Dense(32, activation='relu'), dl2.Dense(10)])
    m.compile(make_opt(), dl2.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(X[:256], y[:256], epochs=2, verbose=0)             # a trained optimizer: non-zero state
    opt, weights, state = m.optimizer, m.get_weights(), _optimizer_state(m.optimizer)
    lrs, losses = dl2.lr_find(m, X, y, num_steps=60)
    assert m.optimizer is opt and all(p is q for p, q in zip(opt.params, m.params))
    for a, b in zip(m.get_weights(), weights): np.testing.assert_array_equal(a, b)
    after = _optimizer_state(opt)
    assert after['iterations'] == state['iterations'] and after['learning_rate'] == state['learning_rate']
    for k in ('state', 'averages'):
        np.testing.assert_array_equal(np.concatenate([np.ravel(v) for v in after[k]] or [np.zeros(0)]),
                                      np.concatenate([np.ravel(v) for v in state[k]] or [np.zeros(0)]))
    h = m.fit(X[:256], y[:256], epochs=1, verbose=0)        # and the model still trains with its own optimizer
    assert opt.iterations == state['iterations'] + 8 and np.isfinite(h.history['loss'][0])

def test_lr_find_restores_even_when_a_step_fails():
    X, y = digits()
    m = mlp()
    weights = m.get_weights()
    bad = y.copy()
    bad[1000] = 10                                            # met after some steps have changed the weights
    with pytest.raises(ValueError, match='labels must be integers'): dl2.lr_find(m, X, bad, num_steps=200)
    for a, b in zip(m.get_weights(), weights): np.testing.assert_array_equal(a, b)

def test_lr_find_curve():
    X, y = digits()
    m = mlp()
    lrs, losses = dl2.lr_find(m, X, y, start_lr=1e-6, end_lr=100.0, num_steps=200)
    full = np.geomspace(1e-6, 100.0, 200)
    assert 20 < len(lrs) < 200                                # the loss diverged before the largest rates
    np.testing.assert_allclose(lrs, full[:len(lrs)])
    assert losses[-1] > 4 * losses[:-1].min() or not np.isfinite(losses[-1])
    assert np.isfinite(losses[:-1]).all() and losses.min() < 0.75 * losses[0]
    lr = dl2.suggest_lr(lrs, losses)
    assert lr == lrs[np.argmin(losses)] / 10 and 1e-4 < lr < 1
    a, b = dl2.lr_find(m, X, y, num_steps=30), dl2.lr_find(m, X, y, num_steps=30)
    np.testing.assert_array_equal(a[1], b[1])                 # same seed, same weights: the same curve

def test_lr_find_bad_input():
    X, y = digits()
    with pytest.raises(ValueError, match='call compile'): dl2.lr_find(dl2.Sequential([dl2.Dense(2)]), X, y)
    with pytest.raises(ValueError, match='need 0 < start_lr < end_lr'): dl2.lr_find(mlp(), X, y, start_lr=0)
    with pytest.raises(ValueError, match='same number of samples'): dl2.lr_find(mlp(), X, y[:-1])

def test_training_after_lr_find_is_training_without_it():
    "lr_find shuffles with its own generator and restores everything: a later fit gives the same numbers."
    X, y = digits()
    a = mlp(); ha = a.fit(X[:500], y[:500], epochs=2, verbose=0)
    b = mlp(); dl2.lr_find(b, X[:500], y[:500], num_steps=40); hb = b.fit(X[:500], y[:500], epochs=2, verbose=0)
    assert ha.history == hb.history

def test_lr_find_with_a_scheduled_optimizer():
    "The range test sets the rate step by step; a model whose optimizer follows a schedule keeps it."
    X, y = digits()
    dl2.set_seed(0)
    sched = dl2.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
    m = dl2.Sequential([dl2.Input((64,)), dl2.Dense(10)])
    m.compile(dl2.Adam(sched), dl2.SparseCategoricalCrossentropy(from_logits=True))
    weights = m.get_weights()
    lrs, losses = dl2.lr_find(m, X, y, num_steps=30)
    assert len(lrs) == 30 and m.optimizer.get_config()['learning_rate']['class_name'] == 'ExponentialDecay'
    for a, b in zip(m.get_weights(), weights): np.testing.assert_array_equal(a, b)
