"""Convolution, transposed convolution, pooling and upsampling: sweeps against the naive loops, finite differences,
float32 against float64, PyTorch when installed, every bad input, and networks built for images of any size."""
import re
import numpy as np, pytest
import dl2
from dl2.core import grad_check, check_layer, rel_error
from dl2.conv import (conv2d_forward, conv2d_backward, conv2d_naive, conv2d_backward_naive, conv_algorithm, conv_output_shape)
from dl2.conv_transpose import conv_transpose2d_forward, conv_transpose2d_backward, conv_transpose2d_naive
from dl2.sampling import (maxpool2d_forward, maxpool2d_backward, maxpool_naive, maxpool_backward_naive,
                          avgpool2d_forward, avgpool2d_backward, upsample2d_forward, upsample2d_backward)

# (x shape, kernel (KH, KW), strides, padding, F): odd non-square shapes, kernels 3x2 1x1 5x5 3x3, strides 1 2 3
# and unequal, both paddings, a batch of one, one channel
SWEEP = [((2, 7, 9, 3), (3, 2), (1, 1), 'valid', 4), ((2, 7, 9, 3), (3, 2), (1, 1), 'same', 4),
         ((1, 5, 6, 1), (1, 1), (1, 1), 'valid', 2), ((1, 5, 6, 1), (1, 1), (2, 3), 'same', 1),
         ((3, 9, 8, 2), (5, 5), (1, 1), 'same', 3), ((2, 11, 10, 2), (5, 5), (3, 2), 'valid', 5),
         ((2, 8, 7, 4), (3, 2), (2, 1), 'same', 6), ((1, 6, 7, 3), (3, 3), (3, 3), 'same', 2),
         ((2, 6, 5, 5), (2, 3), (1, 2), 'valid', 8), ((1, 5, 5, 1), (5, 5), (1, 1), 'valid', 1),
         ((2, 7, 9, 3), (3, 3), (1, 1), 'same', 5), ((3, 8, 6, 2), (3, 3), (1, 1), 'valid', 4)]
ALGOS = ['direct', 'winograd', 'winograd4', 'im2col']

@pytest.mark.parametrize('algo', ALGOS)
@pytest.mark.parametrize('case', SWEEP, ids=str)
def test_conv_fast_vs_naive(case, algo):
    xs, k, s, p, F = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(k + (xs[3], F)), rng.standard_normal(F)
    ref = conv2d_naive(x, w, b, s, p); dout = rng.standard_normal(ref.shape)
    want = conv2d_backward_naive(dout, x, w, s, p)
    with conv_algorithm(algo):
        assert rel_error(conv2d_forward(x, w, b, s, p), ref) < 1e-10
        for got, exp in zip(conv2d_backward(dout, x, w, s, p), want): assert rel_error(got, exp) < 1e-10
        dx, dw, db = conv2d_backward(dout, x, w, s, p, need_dx=False)
        assert dx is None and rel_error(dw, want[1]) < 1e-10

@pytest.mark.parametrize('algo', ALGOS)
@pytest.mark.parametrize('case', SWEEP, ids=str)
def test_conv_transpose_fast_vs_naive_and_gradcheck(case, algo):
    xs, k, s, p, F = case
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(k + (F, xs[3])), rng.standard_normal(F)
    with conv_algorithm(algo):
        assert rel_error(conv_transpose2d_forward(x, w, b, s, p), conv_transpose2d_naive(x, w, b, s, p)) < 1e-10
        grad_check(lambda: conv_transpose2d_forward(x, w, b, s, p), lambda d: conv_transpose2d_backward(d, x, w, s, p), [x, w, b], tol=1e-7)

@pytest.mark.parametrize('case', SWEEP[:6], ids=str)
def test_conv_layer_gradcheck(f64, case):
    xs, k, s, p, F = case
    x = np.random.default_rng(2).standard_normal(xs)
    for act in [None, 'tanh']:
        check_layer(dl2.Conv2D(F, k, strides=s, padding=p, activation=act), x, tol=1e-7)
        check_layer(dl2.Conv2DTranspose(F, k, strides=s, padding=p, activation=act), x, tol=1e-7)

POOLS = [((2, 7, 9, 3), (2, 2), None, 'valid'), ((1, 7, 6, 1), (3, 3), (2, 2), 'same'), ((3, 8, 5, 2), (3, 2), (1, 2), 'valid'),
         ((2, 5, 5, 4), (2, 3), (3, 1), 'same'), ((1, 6, 6, 1), (1, 1), None, 'valid'), ((2, 9, 7, 2), (3, 3), (1, 1), 'same')]

@pytest.mark.parametrize('case', POOLS, ids=str)
def test_pooling_against_naive_and_gradcheck(case):
    xs, ps, st, p = case
    rng = np.random.default_rng(3); x = rng.standard_normal(xs)
    out, arg = maxpool2d_forward(x, ps, st, p); ref, rarg = maxpool_naive(x, ps, st, p)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(maxpool2d_backward(dout, arg, x.shape), maxpool_backward_naive(dout, rarg, x.shape))
    grad_check(lambda: maxpool2d_forward(x, ps, st, p)[0], lambda d: [maxpool2d_backward(d, maxpool2d_forward(x, ps, st, p)[1], x.shape)], [x])
    grad_check(lambda: avgpool2d_forward(x, ps, st, p), lambda d: [avgpool2d_backward(d, x.shape, ps, st, p)], [x])
    # average pooling = mean over the in-image part of each window
    (PH, PW), (sh, sw), _ = dl2.sampling.pool_params(ps, st, p)
    OH, OW, pt, _, pl, _ = conv_output_shape(xs[1], xs[2], PH, PW, (sh, sw), p)
    avg = avgpool2d_forward(x, ps, st, p)
    for i in range(OH):
        for j in range(OW):
            win = x[:, max(i*sh-pt, 0):i*sh-pt+PH, max(j*sw-pl, 0):j*sw-pl+PW, :]
            np.testing.assert_allclose(avg[:, i, j], win.mean(axis=(1, 2)), rtol=1e-12)

@pytest.mark.parametrize('size', [(2, 2), (1, 3), (3, 2)])
def test_upsampling(size):
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 2))
    np.testing.assert_array_equal(upsample2d_forward(x, size), x.repeat(size[0], 1).repeat(size[1], 2))
    grad_check(lambda: upsample2d_forward(x, size), lambda d: [upsample2d_backward(d, size)], [x])

@pytest.mark.parametrize('make', [lambda: dl2.Conv2D(6, 5), lambda: dl2.Conv2D(8, 3, strides=2, padding='same'),
                                  lambda: dl2.Conv2DTranspose(4, 4, strides=2, padding='same'), lambda: dl2.MaxPooling2D(2),
                                  lambda: dl2.AveragePooling2D(3, 2, 'same'), lambda: dl2.UpSampling2D(2)])
def test_float32_close_to_float64(make):
    x = np.random.default_rng(5).standard_normal((3, 12, 12, 3))
    l32 = make(); y32 = l32(x.astype(np.float32))
    with dl2.using_floatx('float64'): l64 = make()
    l64.build((None, 12, 12, 3)); l64.set_weights(l32.get_weights())
    y64 = l64(x)
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    assert rel_error(y32, y64) < 1e-5

def test_integer_input_is_cast_at_the_boundary():
    c = dl2.Conv2D(2, 3); y = c(np.full((1, 5, 5, 1), 200, np.uint8))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, c(np.full((1, 5, 5, 1), 200.0, np.float32)))

@pytest.mark.parametrize('make, x, match', [
    (lambda: dl2.Conv2D(4, 5), np.zeros((1, 4, 6, 3)), r"Layer 'conv2d': kernel \(5, 5\) is larger than the input \(4, 6\)"),
    (lambda: dl2.Conv2D(4, 3), np.zeros((5, 5, 3)), r"Layer 'conv2d': expected 4-D input.*\(5, 5, 3\)"),
    (lambda: dl2.Conv2DTranspose(4, 3), np.zeros((5, 5, 3)), r"Layer 'conv2d_transpose': expected 4-D input"),
    (lambda: dl2.MaxPooling2D(3), np.zeros((1, 2, 2, 1)), r"Layer 'max_pooling2d': pool \(3, 3\) is larger than the input \(2, 2\)"),
    (lambda: dl2.AveragePooling2D(2), np.zeros((4, 4, 1)), r"Layer 'average_pooling2d': expected 4-D input"),
    (lambda: dl2.UpSampling2D(2), np.zeros((4, 4)), r"Layer 'up_sampling2d': expected 4-D input"),
])
def test_bad_input_shapes(make, x, match):
    with pytest.raises(ValueError, match=match): make()(x)

@pytest.mark.parametrize('make', [lambda: dl2.Conv2D(4, 3), lambda: dl2.Conv2DTranspose(4, 3), lambda: dl2.MaxPooling2D(),
                                  lambda: dl2.AveragePooling2D(), lambda: dl2.UpSampling2D()])
def test_channel_count_must_match_the_built_one(make):
    layer = make(); layer(np.zeros((1, 6, 6, 3)))
    with pytest.raises(ValueError, match=r"expected input shape \(None, 6, 6, 3\), received \(1, 6, 6, 4\)"): layer(np.zeros((1, 6, 6, 4)))

@pytest.mark.parametrize('make', [lambda: dl2.Conv2D(4, 3, padding='full'), lambda: dl2.Conv2DTranspose(4, 3, padding='causal'),
                                  lambda: dl2.MaxPooling2D(padding='VALIDE'), lambda: dl2.AveragePooling2D(padding='')])
def test_unknown_padding(make):
    with pytest.raises(ValueError, match=r"padding must be one of \('valid', 'same'\)"): make()

@pytest.mark.parametrize('make', [lambda p: dl2.Conv2D(4, 3, padding=p), lambda p: dl2.Conv2DTranspose(4, 3, strides=2, padding=p),
                                  lambda p: dl2.MaxPooling2D(3, 2, padding=p), lambda p: dl2.AveragePooling2D(3, 2, padding=p)])
def test_padding_in_any_case_as_keras(make):
    "Keras lower-cases padding: 'SAME' and 'Valid' are 'same' and 'valid', stored and saved in lower case."
    x = np.random.default_rng(8).standard_normal((2, 7, 6, 3)).astype(np.float32)
    for given, canonical in [('SAME', 'same'), ('Valid', 'valid'), ('sAmE', 'same')]:
        a, b = make(given), make(canonical)
        assert a.padding == canonical and a.get_config()['padding'] == canonical
        a.build((None, 7, 6, 3))
        b.build((None, 7, 6, 3))
        b.set_weights(a.get_weights())
        np.testing.assert_array_equal(a(x), b(x))
    assert conv2d_forward(x, np.ones((3, 3, 3, 2), np.float32), padding='SAME').shape == (2, 7, 6, 2)
    assert maxpool2d_forward(x, 3, 2, 'VALID')[0].shape == (2, 3, 2, 3)

def test_unregistered_activation_function_is_not_saved_under_a_wrong_name():
    c = dl2.Conv2D(4, 3, activation=dl2.core.leaky_relu_fn(0.01))    # calls itself 'leaky_relu', which loads slope 0.2
    with pytest.raises(ValueError, match=r"Layer 'conv2d': its activation ActivationFn\('leaky_relu'\) is not the one registered"):
        c.get_config()
    assert dl2.Conv2DTranspose(4, 3, activation='leaky_relu').get_config()['activation'] == 'leaky_relu'
    with pytest.raises(TypeError, match="Layer 'conv2d': activation must be a name, an ActivationFn or None, received 3"):
        dl2.Conv2D(4, 3, activation=3)

def test_function_level_errors():
    x = np.zeros((1, 6, 6, 3), np.float32)
    with pytest.raises(ValueError, match=r"input has 3 channels but the kernel \(3, 3, 2, 4\) expects 2"): conv2d_forward(x, np.zeros((3, 3, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"kernel 7×7 is larger than the input 6×6"): conv2d_forward(x, np.zeros((7, 7, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 4, 4, 4\)"): conv2d_backward(np.zeros((1, 5, 5, 4)), x, np.zeros((3, 3, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"strides must be"): conv2d_forward(x, np.zeros((3, 3, 3, 4), np.float32), strides=0)

def lenet():
    return dl2.Sequential([dl2.Input((32, 32, 3)), dl2.Conv2D(6, 5, activation='relu'), dl2.MaxPooling2D(),
                           dl2.Conv2D(16, 5, activation='relu'), dl2.MaxPooling2D(), dl2.Flatten(),
                           dl2.Dense(120, activation='relu'), dl2.Dense(84, activation='relu'), dl2.Dense(10)])

def test_lenet_summary_and_parameter_count():
    lines = []; lenet().summary(print_fn=lines.append)
    assert lines[-4] == 'Total params: 62,006'
    assert any('(None, 5, 5, 16)' in l and 'max_pooling2d_1 (MaxPooling2D)' in l for l in lines)

def test_conv_net_trains_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((256, 12, 12, 1), dtype=np.float32); y = (x[:, :6].mean((1, 2, 3)) > x[:, 6:].mean((1, 2, 3))).astype(int)
    m = dl2.Sequential([dl2.Input((12, 12, 1)), dl2.Conv2D(4, 3, padding='same', activation='relu'), dl2.MaxPooling2D(),
                        dl2.Conv2DTranspose(4, 2, strides=2), dl2.AveragePooling2D(2), dl2.UpSampling2D(2), dl2.MaxPool2D(2),
                        dl2.GlobalAveragePooling2D(), dl2.Dense(2)])
    m.compile(dl2.Adam(learning_rate=0.01), dl2.SparseCategoricalCrossentropy(from_logits=True))
    h = m.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    m.save(tmp_path / 'm.npz')
    np.testing.assert_array_equal(dl2.load_model(tmp_path / 'm.npz').predict(x), m.predict(x))

def _torch():
    return pytest.importorskip('torch')

def _tf_same_pad(H, W, KH, KW, s):
    _, _, t, b, l, r = conv_output_shape(H, W, KH, KW, s, 'same')
    return (l, r, t, b)

@pytest.mark.parametrize('case', SWEEP, ids=str)
def test_against_pytorch(case):
    torch = _torch(); F_ = torch.nn.functional
    xs, k, s, p, F = case
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(k + (xs[3], F)), rng.standard_normal(F)
    tx = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(); tw = torch.tensor(w).permute(3, 2, 0, 1).requires_grad_(); tb = torch.tensor(b).requires_grad_()
    txp = F_.pad(tx, _tf_same_pad(xs[1], xs[2], *k, s)) if p == 'same' else tx
    ty = F_.conv2d(txp, tw, tb, stride=s)
    out = conv2d_forward(x, w, b, s, p)
    np.testing.assert_allclose(out, ty.detach().permute(0, 2, 3, 1).numpy(), rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    ty.backward(torch.tensor(dout).permute(0, 3, 1, 2))
    dx, dw, db = conv2d_backward(dout, x, w, s, p)
    np.testing.assert_allclose(dx, tx.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(dw, tw.grad.permute(2, 3, 1, 0).numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-9, atol=1e-10)
    # transposed convolution: torch's conv_transpose2d on the full canvas, cropped like the 'same'/'valid' padding
    wt = rng.standard_normal(k + (F, xs[3]))
    OH, OW = dl2.conv_transpose.conv_transpose_output_shape(xs[1], xs[2], *k, s, p)
    _, _, pt, _, pl, _ = conv_output_shape(OH, OW, *k, s, p)
    full = F_.conv_transpose2d(torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(wt).permute(3, 2, 0, 1), stride=s)
    full = F_.pad(full, (0, max(0, OW + pl - full.shape[3]), 0, max(0, OH + pt - full.shape[2])))
    want = full[:, :, pt:pt + OH, pl:pl + OW].permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(conv_transpose2d_forward(x, wt, None, s, p), want, rtol=1e-10, atol=1e-10)

@pytest.mark.parametrize('case', [c for c in POOLS if c[3] == 'valid'], ids=str)
def test_pooling_against_pytorch(case):
    torch = _torch(); F_ = torch.nn.functional
    xs, ps, st, p = case
    x = np.random.default_rng(7).standard_normal(xs); tx = torch.tensor(x).permute(0, 3, 1, 2)
    st = st or ps
    np.testing.assert_allclose(maxpool2d_forward(x, ps, st, p)[0], F_.max_pool2d(tx, ps, st).permute(0, 2, 3, 1).numpy())
    np.testing.assert_allclose(avgpool2d_forward(x, ps, st, p), F_.avg_pool2d(tx, ps, st).permute(0, 2, 3, 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(upsample2d_forward(x, (2, 3)), F_.interpolate(tx, scale_factor=(2, 3), mode='nearest').permute(0, 2, 3, 1).numpy())

LAYER_ARGS = [  # (constructor call, exception, text the message must hold): refused where the value is given
    (lambda: dl2.Conv2D('8', 3), TypeError, "Layer 'conv2d': filters must be a positive int, received '8' (str)"),
    (lambda: dl2.Conv2D(8.0, 3), TypeError, "filters must be a positive int, received 8.0 (float)"),
    (lambda: dl2.Conv2D(True, 3), TypeError, "filters must be a positive int, received True (bool)"),
    (lambda: dl2.Conv2D(-2, 3), ValueError, "filters must be a positive int, received -2"),
    (lambda: dl2.Conv2D(8, 2.5), TypeError, "Layer 'conv2d': kernel_size must be an int or a pair of ints, received 2.5"),
    (lambda: dl2.Conv2D(8, 2.0), TypeError, "kernel_size must be an int or a pair of ints, received 2.0 (float)"),
    (lambda: dl2.Conv2D(8, float('inf')), TypeError, "kernel_size must be an int or a pair of ints, received inf"),
    (lambda: dl2.Conv2D(8, '3'), TypeError, "kernel_size must be an int or a pair of ints, received '3' (str)"),
    (lambda: dl2.Conv2D(8, '33'), TypeError, "kernel_size must be an int or a pair of ints"),
    (lambda: dl2.Conv2D(8, (3, True)), TypeError, "kernel_size must be an int or a pair of ints"),
    (lambda: dl2.Conv2D(8, None), TypeError, "kernel_size must be an int or a pair of ints, received None"),
    (lambda: dl2.Conv2D(8, (3, 3, 3)), ValueError, "kernel_size must be a positive int or a pair of positive ints"),
    (lambda: dl2.Conv2D(8, 0), ValueError, "kernel_size must be a positive int or a pair of positive ints, received 0"),
    (lambda: dl2.Conv2D(8, 3, strides=(2, 0)), ValueError, "Layer 'conv2d': strides must be a positive int"),
    (lambda: dl2.Conv2D(8, 3, strides=1.5), TypeError, "strides must be an int or a pair of ints"),
    (lambda: dl2.Conv2D(8, 3, padding=None), TypeError, "Layer 'conv2d': padding must be one of ('valid', 'same'), received None"),
    (lambda: dl2.Conv2D(8, 3, use_bias=1), TypeError, "use_bias must be True or False, received 1 (int)"),
    (lambda: dl2.Conv2D(8, 3, kernel_initializer=3), TypeError, "kernel_initializer must be an initializer name or a callable"),
    (lambda: dl2.Conv2D(8, 3, bias_initializer='one'), ValueError, "bias_initializer: Unknown initializer 'one'"),
    (lambda: dl2.Conv2D(8, 3, activation='swish'), ValueError, "Unknown activation 'swish'"),
    (lambda: dl2.Conv2DTranspose(8, 2.0), TypeError, "Layer 'conv2d_transpose': kernel_size must be an int or a pair"),
    (lambda: dl2.Conv2DTranspose(0, 2), ValueError, "Layer 'conv2d_transpose': filters must be a positive int, received 0"),
    (lambda: dl2.Conv2DTranspose(4, 2, strides='2'), TypeError, "Layer 'conv2d_transpose': strides must be an int or a pair"),
    (lambda: dl2.MaxPooling2D(pool_size=0), ValueError, "Layer 'max_pooling2d': pool_size must be a positive int"),
    (lambda: dl2.MaxPooling2D(2.0), TypeError, "Layer 'max_pooling2d': pool_size must be an int or a pair of ints, received 2.0"),
    (lambda: dl2.MaxPooling2D(2, strides=0), ValueError, "Layer 'max_pooling2d': strides must be a positive int"),
    (lambda: dl2.AveragePooling2D((2, 2, 2)), ValueError, "Layer 'average_pooling2d': pool_size must be a positive int or a pair"),
    (lambda: dl2.AveragePooling2D(2, padding=0), TypeError, "Layer 'average_pooling2d': padding must be one of"),
    (lambda: dl2.UpSampling2D(0), ValueError, "Layer 'up_sampling2d': size must be a positive int"),
    (lambda: dl2.UpSampling2D(size=(2, 2.0)), TypeError, "Layer 'up_sampling2d': size must be an int or a pair of ints"),
    (lambda: dl2.UpSampling2D(interpolation=None), TypeError, "interpolation must be 'nearest'"),
    (lambda: dl2.UpSampling2D(interpolation='bilinear'), ValueError, "interpolation must be 'nearest'"),
    (lambda: dl2.Conv2D(8, 3, name='c1', strides=0), ValueError, "Layer 'c1': strides must be"),
]

@pytest.mark.parametrize('make, exc, message', LAYER_ARGS, ids=[str(i) for i in range(len(LAYER_ARGS))])
def test_layer_arguments_refused_where_given(make, exc, message):
    with pytest.raises(exc) as e: make()
    assert message in str(e.value), f"expected {message!r} in: {e.value}"

def test_layer_arguments_keras_accepts():
    "Pairs as tuples, lists and NumPy ints."
    assert dl2.Conv2D(np.int64(4), [3, np.int32(2)], strides=(1, 2)).kernel_size == (3, 2)
    assert dl2.MaxPooling2D((2, 3), strides=[1, 1]).strides == (1, 1)

# ---- None sizes: a fully convolutional network built for images of any height and width (Keras' Input((None, None, 3)))

def fcn(global_pool=dl2.GlobalMaxPooling2D):
    "Every layer of chapters 05-08 that takes an image, and the activations, ending in a global pooling and a Dense layer."
    return [dl2.Conv2D(4, (3, 2), padding='same', activation='tanh'), dl2.BatchNormalization(), dl2.ReLU(),
            dl2.MaxPooling2D(2), dl2.Conv2DTranspose(3, 3, strides=2, padding='same'), dl2.LeakyReLU(0.1),
            dl2.AveragePooling2D(2, padding='same'), dl2.UpSampling2D((1, 2)), dl2.Conv2D(5, 3, strides=2),
            dl2.Activation('sigmoid'), global_pool(), dl2.Dense(2, activation='softmax')]

SIZES = [(9, 7), (12, 10)]       # H, W: odd and even, non-square

def build_all(layers, shape):
    "Build each layer for the output shape of the one before; the list of the shapes in between."
    shapes = [tuple(shape)]
    for layer in layers:
        layer.build(shapes[-1])
        shapes.append(layer.compute_output_shape(shapes[-1]))
    return shapes

def test_fully_convolutional_shapes():
    layers = fcn()
    shapes = build_all(layers, (None, None, None, 3))
    assert shapes[-1] == (None, 2) and shapes[-2] == (None, 5)
    assert all(s[1:3] == (None, None) for s in shapes[:-2]), shapes            # unknown H and W stay unknown
    assert [l.input_shape for l in layers] == shapes[:-1] and all(l.output_shape == s for l, s in zip(layers, shapes[1:]))
    for H, W in SIZES:
        a = np.random.default_rng(H).standard_normal((3, H, W, 3)).astype(np.float32)
        for layer in layers:
            known = layer.compute_output_shape((None,) + a.shape[1:])      # what the shape rules predict at this size
            a = layer(a, training=True)
            assert (None,) + a.shape[1:] == known, (layer.name, a.shape, known)
        assert a.shape == (3, 2) and np.isfinite(a).all()

@pytest.mark.parametrize('order', [SIZES, SIZES[::-1]], ids=['small-first', 'large-first'])
def test_fully_convolutional_layers_gradcheck_on_each_size(f64, order):
    "Each layer, built once for any size, passes check_layer at both sizes: the same layer objects, one size after the other."
    layers = fcn()
    build_all(layers, (None, None, None, 3))
    for H, W in order:
        shapes = build_all(fcn(), (None, H, W, 3))     # each layer's input shape at this size
        rng = np.random.default_rng(H * W)
        for layer, shape in zip(layers, shapes):
            check_layer(layer, rng.standard_normal((2,) + shape[1:]) + 0.05, tol=1e-7)

def test_fully_convolutional_stack_gradcheck(f64):
    """The whole stack at two sizes: dx and the gradient of every parameter of every layer, by central differences. It
    ends in a global *average* pooling: the global max of 8 positions of a smooth map has near-ties here (two values
    4e-7 apart at 12x10), where a finite difference straddles the switch; the per-layer checks above cover the max."""
    layers = fcn(dl2.GlobalAveragePooling2D)
    build_all(layers, (None, None, None, 3))
    params = [p for l in layers for p in l.params]
    for H, W in SIZES:
        x = np.random.default_rng(H + W).standard_normal((2, H, W, 3))
        def forward():
            a = x
            for layer in layers: a = layer(a, training=True)
            return a
        def backward(dout):
            for layer in reversed(layers): dout = layer.backward(dout)
            return [dout] + [g for l in layers for g in l.grads]
        errs = grad_check(forward, backward, [x] + params, tol=1e-6)
        assert len(errs) == 1 + len(params) == 1 + 10

def test_dropout_and_global_average_pooling_take_unknown_sizes():
    d, g = dl2.Dropout(0.5, seed=0), dl2.GlobalAveragePooling2D()
    assert build_all([d, g], (None, None, None, 4)) == [(None, None, None, 4)] * 2 + [(None, 4)]
    for H, W in SIZES:
        x = np.ones((2, H, W, 4), np.float32)
        y = d(x, training=True)
        assert y.shape == x.shape and d.backward(np.ones_like(y)).shape == x.shape
        assert g(x).shape == (2, 4)

def test_flatten_after_unknown_sizes_is_refused_clearly():
    conv = dl2.Conv2D(4, 3)
    conv.build((None, None, None, 3))
    assert conv.output_shape == (None, None, None, 4)
    f = dl2.Flatten()
    with pytest.raises(ValueError, match=re.escape("Layer 'flatten': needs a known size for every axis but the batch axis, "
                                                   "received input shape (None, None, None, 4)")):
        f.build(conv.output_shape)
    assert not f.built

@pytest.mark.parametrize('make, name', [(lambda: dl2.Conv2D(4, 3), 'conv2d'), (lambda: dl2.Conv2DTranspose(4, 3), 'conv2d_transpose'),
                                        (lambda: dl2.BatchNormalization(), 'batch_normalization')])
def test_unknown_channels_are_refused_by_name(make, name):
    layer = make()
    with pytest.raises(ValueError, match=re.escape(f"Layer '{name}': needs a known size for the ")) as e:
        layer.build((None, 5, 5, None))
    assert 'received input shape (None, 5, 5, None)' in str(e.value)
    assert not layer.built and layer.weights == []

@pytest.mark.parametrize('make, text', [
    (lambda: dl2.Conv2D(4, (3, 5)), "Layer 'conv2d': kernel (3, 5) is larger than the input (6, 4) with padding 'valid'"),
    (lambda: dl2.MaxPooling2D(5), "Layer 'max_pooling2d': pool (5, 5) is larger than the input (6, 4) with padding 'valid'"),
    (lambda: dl2.AveragePooling2D((2, 5)), "Layer 'average_pooling2d': pool (2, 5) is larger than the input (6, 4)")])
def test_a_valid_window_larger_than_an_image_of_unknown_size_is_refused_when_called(make, text):
    layer = make()
    layer.build((None, None, None, 3))
    assert layer(np.ones((1, 6, 6, 3))).shape[0] == 1
    with pytest.raises(ValueError, match=re.escape(text)): layer(np.ones((1, 6, 4, 3)))

def test_winograd_kernel_transforms_refuse_other_tile_sizes():
    "A tile size or plane count that is neither F(2x2, 3x3) nor F(4x4, 3x3) is an error, not the 4x4 matrices."
    from dl2.conv import winograd_kernel, winograd_kernel_grad
    w = np.ones((3, 3, 2, 5))
    assert winograd_kernel(w, 2).shape == (16, 2, 5) and winograd_kernel(w, 4).shape == (36, 2, 5)
    assert winograd_kernel_grad(np.ones((36, 2, 5))).shape == (3, 3, 2, 5)
    with pytest.raises(ValueError, match="winograd_kernel: expected tiles of 2 or 4 outputs, received 3"):
        winograd_kernel(w, 3)
    with pytest.raises(ValueError, match="winograd_kernel_grad: expected 16 or 36 planes, received 25"):
        winograd_kernel_grad(np.ones((25, 2, 5)))
