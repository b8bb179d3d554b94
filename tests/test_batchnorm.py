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
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"): Dropout(-0.1)
    with pytest.raises(ValueError, match="backward called before a forward pass"): Dropout(0.5).backward(np.zeros(3))

@pytest.mark.parametrize('offset', [1e3, 1e4, -1e4])
@pytest.mark.parametrize('shape', [(4096, 4), (16, 8, 8, 3)])
def test_float32_statistics_on_offset_data(offset, shape):
    "Data far from zero (mean 1000 or 1e4, std 1): E[x²] − μ² would cancel; the shifted sums keep float32 at its rounding."
    rng = np.random.default_rng(6)
    x = (offset + rng.standard_normal(shape)).astype(np.float32)
    d = rng.standard_normal(shape).astype(np.float32)
    g, b = (1 + rng.random(shape[-1])).astype(np.float32), rng.standard_normal(shape[-1]).astype(np.float32)
    x64, g64, b64 = x.astype(np.float64), g.astype(np.float64), b.astype(np.float64)
    ref, (_, var64, inv64, _, _) = batchnorm_naive(x64, g64, b64)
    out, mu, var, inv = batchnorm_forward(x, g, b)
    assert rel_error(out, ref) < 1e-6 and rel_error(var, var64) < 1e-10
    assert rel_error(mu, x64.reshape(-1, shape[-1]).mean(0)) < 1e-14
    dx, dg, db = batchnorm_backward(d, x, g, mu, inv)
    want = batchnorm_backward_closed(d.astype(np.float64), batchnorm_naive(x64, g64, b64)[1])
    for got, exp in zip((dx, dg, db), want): assert rel_error(got, exp) < 1e-6
    np.testing.assert_allclose(dl2.batchnorm.batchnorm_inference(x, g, b, mu, var), out, rtol=1e-6, atol=1e-5)

def test_one_pass_formula_would_fail_on_offset_data():
    "The check above can fail: the textbook float32 formula E[x²] − μ² is off by more than 10% on the same data."
    x = (1e3 + np.random.default_rng(6).standard_normal((4096, 4))).astype(np.float32)
    naive = (x * x).mean(0) - x.mean(0) ** 2
    assert rel_error(naive, x.astype(np.float64).var(0)) > 0.1

@pytest.mark.parametrize('offset', [0.0, 1e3, 1e4])
def test_against_pytorch_batch_norm(offset):
    "dl2's float32 output is at least as close to float64 as PyTorch's float32 batch_norm (skipped without torch)."
    torch = pytest.importorskip('torch')
    x = (offset + np.random.default_rng(7).standard_normal((64, 16, 16, 8))).astype(np.float32)
    ref = batchnorm_naive(x.astype(np.float64), np.ones(8), np.zeros(8))[0]
    ours = batchnorm_forward(x, np.ones(8, np.float32), np.zeros(8, np.float32))[0]
    tx = torch.from_numpy(x).permute(0, 3, 1, 2)
    theirs = torch.nn.functional.batch_norm(tx, None, None, training=True, eps=1e-3).permute(0, 2, 3, 1).numpy()
    assert rel_error(ours, ref) <= max(rel_error(theirs, ref), 1e-7)

LAYER_ARGS = [  # (constructor call, exception, text the message must hold): refused where the value is given
    (lambda: dl2.BatchNormalization(momentum=1.5), ValueError, "Layer 'batch_normalization': momentum must be in [0, 1), received 1.5"),
    (lambda: dl2.BatchNormalization(momentum=-0.1), ValueError, "momentum must be in [0, 1)"),
    (lambda: dl2.BatchNormalization(momentum=float('nan')), ValueError, "momentum must be in [0, 1)"),
    (lambda: dl2.BatchNormalization(momentum='0.9'), TypeError, "momentum must be a number, received '0.9' (str)"),
    (lambda: dl2.BatchNormalization(epsilon=0), ValueError, "Layer 'batch_normalization': epsilon must be a positive number, received 0"),
    (lambda: dl2.BatchNormalization(epsilon=float('inf')), ValueError, "epsilon must be a positive number"),
    (lambda: dl2.BatchNormalization(epsilon=None), TypeError, "epsilon must be a positive number, received None (NoneType)"),
    (lambda: dl2.BatchNormalization(axis=1.0), TypeError, "axis must be an int, received 1.0"),
    (lambda: dl2.BatchNormalization(center='no'), TypeError, "center must be True or False, received 'no' (str)"),
    (lambda: dl2.BatchNormalization(scale=None), TypeError, "scale must be True or False, received None"),
    (lambda: dl2.Dropout(1.5), ValueError, "Layer 'dropout': rate must be in [0, 1], received 1.5"),
    (lambda: dl2.Dropout(-0.1), ValueError, "rate must be in [0, 1], received -0.1"),
    (lambda: dl2.Dropout(float('nan')), ValueError, "rate must be in [0, 1]"),
    (lambda: dl2.Dropout('0.5'), TypeError, "Layer 'dropout': rate must be a number, received '0.5' (str)"),
    (lambda: dl2.Dropout(True), TypeError, "rate must be a number, received True (bool)"),
    (lambda: dl2.Dropout(0.5, seed=-1), ValueError, "seed must be a non-negative int or None, received -1"),
    (lambda: dl2.Dropout(0.5, seed='1'), TypeError, "seed must be a non-negative int or None, received '1'"),
]

@pytest.mark.parametrize('make, exc, message', LAYER_ARGS, ids=[str(i) for i in range(len(LAYER_ARGS))])
def test_layer_arguments_refused_where_given(make, exc, message):
    with pytest.raises(exc) as e: make()
    assert message in str(e.value), f"expected {message!r} in: {e.value}"

def test_layer_arguments_keras_accepts():
    "Dropout's rate 1 (Keras allows [0, 1]: everything is dropped, the gradient too); momentum 0, epsilon 1."
    x = np.ones((4, 5), np.float32)
    d = Dropout(1.0)
    np.testing.assert_array_equal(d(x, training=True), 0)
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), 0)
    np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(Dropout(0)(x, training=True), x)
    bn = BatchNormalization(momentum=0, epsilon=1)
    assert bn.momentum == 0.0 and bn.epsilon == 1.0

def test_empty_batch_leaves_the_moving_statistics_alone():
    bn = BatchNormalization(); bn(np.ones((4, 3), np.float32), training=True)
    before = bn.get_weights()
    with pytest.raises(ValueError, match="batchnorm_forward: x must not be empty"): bn(np.ones((0, 3), np.float32), training=True)
    for w, b in zip(bn.get_weights(), before): np.testing.assert_array_equal(w, b)
