"""Arguments of the layers of chapter 01: every bad value refused where it is given (TypeError for a wrong type,
ValueError for a value outside its domain, naming the layer, the argument and what was received), and the Keras 3
features (ReLU's max_value / negative_slope / threshold, LeakyReLU's negative_slope, Reshape's -1) as Keras defines them."""
import math, re
import numpy as np, pytest
from hypothesis import given, settings, strategies as st
import dl2
from dl2.core import ACTIVATIONS, ActivationFn, check_layer, grad_check, leaky_relu_fn
from dl2.dense import relu_forward, relu_backward

inf, nan = float('inf'), float('nan')

BAD = [  # (constructor call, error type, text the message must hold)
    (lambda: dl2.Dense('3'), TypeError, "Dense: units must be a positive int, received '3' (str)"),
    (lambda: dl2.Dense(2.5), TypeError, "Dense: units must be a positive int, received 2.5 (float)"),
    (lambda: dl2.Dense(3.0), TypeError, "Dense: units must be a positive int, received 3.0 (float)"),
    (lambda: dl2.Dense(True), TypeError, "Dense: units must be a positive int, received True (bool)"),
    (lambda: dl2.Dense(np.bool_(True)), TypeError, "Dense: units must be a positive int, received"),
    (lambda: dl2.Dense(inf), TypeError, "Dense: units must be a positive int, received inf (float)"),
    (lambda: dl2.Dense(None), TypeError, "Dense: units must be a positive int, received None (NoneType)"),
    (lambda: dl2.Dense(0), ValueError, "Dense: units must be a positive int, received 0"),
    (lambda: dl2.Dense(-3), ValueError, "Dense: units must be a positive int, received -3"),
    (lambda: dl2.Dense(3, activation='swish'), ValueError, "Dense: activation: Unknown activation 'swish'; expected one of"),
    (lambda: dl2.Dense(3, activation=3), TypeError, "Dense: activation must be a name, an ActivationFn or None, received 3 (int)"),
    (lambda: dl2.Dense(3, activation=np.tanh), TypeError, "Dense: activation must be a name"),
    (lambda: dl2.Dense(3, use_bias='no'), TypeError, "Dense: use_bias must be True or False, received 'no' (str)"),
    (lambda: dl2.Dense(3, use_bias=1), TypeError, "Dense: use_bias must be True or False, received 1 (int)"),
    (lambda: dl2.Dense(3, kernel_initializer='he'), ValueError, "Dense: kernel_initializer: Unknown initializer 'he'; expected one of"),
    (lambda: dl2.Dense(3, bias_initializer=0), TypeError, "Dense: bias_initializer must be an initializer name or a callable, received 0 (int)"),
    (lambda: dl2.Activation('swish'), ValueError, "Activation: activation: Unknown activation 'swish'"),
    (lambda: dl2.Activation(['relu']), TypeError, "Activation: activation must be a name"),
    (lambda: dl2.ReLU(max_value=-1), ValueError, "ReLU: max_value must be None or a finite number >= 0, received -1"),
    (lambda: dl2.ReLU(max_value=nan), ValueError, "ReLU: max_value must be None or a finite number >= 0, received nan"),
    (lambda: dl2.ReLU(max_value=inf), ValueError, "ReLU: max_value must be None or a finite number >= 0, received inf"),
    (lambda: dl2.ReLU(max_value='6'), TypeError, "ReLU: max_value must be None or a finite number >= 0, received '6' (str)"),
    (lambda: dl2.ReLU(negative_slope=-0.1), ValueError, "ReLU: negative_slope must be a finite number >= 0, received -0.1"),
    (lambda: dl2.ReLU(negative_slope=None), TypeError, "ReLU: negative_slope must be a finite number >= 0, received None"),
    (lambda: dl2.ReLU(threshold=-1.0), ValueError, "ReLU: threshold must be a finite number >= 0, received -1.0"),
    (lambda: dl2.ReLU(threshold=True), TypeError, "ReLU: threshold must be a finite number >= 0, received True (bool)"),
    (lambda: dl2.LeakyReLU(-0.2), ValueError, "LeakyReLU: negative_slope must be a finite number >= 0, received -0.2"),
    (lambda: dl2.LeakyReLU(nan), ValueError, "LeakyReLU: negative_slope must be a finite number >= 0, received nan"),
    (lambda: dl2.LeakyReLU('0.2'), TypeError, "LeakyReLU: negative_slope must be a finite number >= 0, received '0.2' (str)"),
    (lambda: dl2.LeakyReLU(alpha=0.1), TypeError, "LeakyReLU: alpha is Keras 2's name for the slope; pass negative_slope="),
    (lambda: dl2.Softmax(axis=1.0), TypeError, "Softmax: axis must be an int, received 1.0 (float)"),
    (lambda: dl2.Reshape('12'), TypeError, "Reshape: target_shape must be a tuple of ints, received '12' (str)"),
    (lambda: dl2.Reshape(12), TypeError, "Reshape: target_shape must be a tuple of ints, received 12 (int)"),
    (lambda: dl2.Reshape((2.0, 6)), TypeError, "Reshape: target_shape must be a tuple of ints, received (2.0, 6) (entry 2.0 (float))"),
    (lambda: dl2.Reshape((True, 12)), TypeError, "(entry True (bool))"),
    (lambda: dl2.Reshape(('3', 4)), TypeError, "(entry '3' (str))"),
    (lambda: dl2.Reshape((0, 12)), ValueError, "Reshape: target_shape entries must be positive ints, one of them may be -1, received (0, 12)"),
    (lambda: dl2.Reshape((-2, 6)), ValueError, "received (-2, 6)"),
    (lambda: dl2.Reshape((-1, -1, 3)), ValueError, "one of them may be -1, received (-1, -1, 3)"),
]

@pytest.mark.parametrize('call, exc, text', BAD, ids=[t[:60] for _, _, t in BAD])
def test_bad_constructor_arguments(call, exc, text):
    with pytest.raises(exc) as e: call()
    assert type(e.value) is exc and text in str(e.value), str(e.value)

def test_good_arguments_of_other_types_are_accepted():
    assert dl2.Dense(np.int64(3)).units == 3 and type(dl2.Dense(np.int64(3)).units) is int
    assert dl2.Dense(3, use_bias=np.bool_(False)).use_bias is False
    assert dl2.ReLU(max_value=np.float32(6), negative_slope=1, threshold=np.int8(0)).get_config()['max_value'] == 6.0
    assert dl2.Reshape([np.int64(3), -1]).target_shape == (3, -1)
    assert dl2.Reshape(()).compute_output_shape((None, 1)) == (None,)
    assert dl2.LeakyReLU(0).negative_slope == 0.0 and dl2.Activation(None).activation.name == 'linear'

# ---- ReLU and LeakyReLU as Keras 3 defines them

def keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    "Keras 3's ReLU.static_call, written out in NumPy (keras/src/activations/activations.py)."
    negative_part = np.maximum(-x + threshold, 0) if negative_slope != 0 else 1
    y = x * (x > threshold) if threshold != 0 else np.maximum(x, 0)
    if max_value is not None: y = np.clip(y, 0, max_value)
    return y - negative_slope * negative_part if negative_slope != 0 else y

RELU_ARGS = [{}, dict(negative_slope=0.3), dict(max_value=6.0), dict(max_value=1.0, negative_slope=0.5),
             dict(threshold=0.5), dict(threshold=1.0, negative_slope=0.2), dict(max_value=2.0, threshold=0.5),
             dict(max_value=0.0, negative_slope=0.1), dict(max_value=0.5, threshold=1.5, negative_slope=0.25)]

@pytest.mark.parametrize('kw', RELU_ARGS, ids=str)
def test_relu_equals_keras(kw, rng):
    x = rng.uniform(-4, 4, (5, 7))
    np.testing.assert_array_equal(relu_forward(x, **kw), keras_relu(x, **kw))
    out = dl2.ReLU(**kw)(x.astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, keras_relu(x.astype(np.float32), **kw), rtol=1e-6)

def test_relu_keras_documentation_example():
    x = np.array([-10, -5, 0.0, 5, 10])
    np.testing.assert_array_equal(dl2.ReLU(max_value=10, negative_slope=0.5, threshold=0)(x), [-5., -2.5, 0., 5., 10.])
    np.testing.assert_array_equal(dl2.LeakyReLU(negative_slope=0.5)(x), [-5., -2.5, 0., 5., 10.])
    assert dl2.LeakyReLU().negative_slope == 0.3       # Keras 3's layer default

@pytest.mark.parametrize('kw', RELU_ARGS, ids=str)
@pytest.mark.parametrize('shape', [(1, 1), (3, 5), (2, 3, 4, 5)])
def test_relu_gradcheck(f64, rng, kw, shape):
    x = rng.uniform(-3, 3, shape)
    grad_check(lambda: relu_forward(x, **kw), lambda d: [relu_backward(d, x, **kw)], [x], tol=1e-7)
    check_layer(dl2.ReLU(**kw), x)

def test_relu_fast_and_general_paths_agree(rng):
    "Without cap or threshold the Numba kernel runs; the NumPy cases must give the same numbers near that case."
    x, d = rng.standard_normal((6, 9)), rng.standard_normal((6, 9))
    for s in [0.0, 0.2]:
        general = dict(negative_slope=s, max_value=1e300)          # a cap no input reaches: the NumPy path
        np.testing.assert_array_equal(relu_forward(x, negative_slope=s), relu_forward(x, **general))
        np.testing.assert_array_equal(relu_backward(d, x, negative_slope=s), relu_backward(d, x, **general))
        np.testing.assert_array_equal(relu_backward(d, x, negative_slope=s), np.where(x > 0, d, s * d))

def test_relu_functions_check_their_arrays(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(TypeError, match='relu_forward: x must be a float ndarray, received int64'): relu_forward(np.arange(3))
    with pytest.raises(TypeError, match="relu_forward: x must be a float ndarray, received <class 'list'>"): relu_forward([1.0])
    with pytest.raises(ValueError, match=r"relu_backward: dout must have x's shape \(3, 4\), received \(4, 3\)"):
        relu_backward(np.zeros((4, 3)), x)
    with pytest.raises(ValueError, match=r"relu_backward: dout must have x's shape"):
        relu_backward(np.zeros(5), x, max_value=1.0)
    with pytest.raises(ValueError, match='relu_forward: max_value must be None or a finite number >= 0'): relu_forward(x, -1)

def test_relu_config_round_trip(tmp_path):
    m = dl2.Sequential([dl2.Input((4,)), dl2.Dense(5), dl2.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2),
                        dl2.LeakyReLU(0.05), dl2.Dense(2)])
    m.save(tmp_path / 'm.npz')
    m2 = dl2.load_model(tmp_path / 'm.npz')
    relu = m2.layers[1]
    assert (relu.max_value, relu.negative_slope, relu.threshold) == (0.5, 0.1, 0.2) and m2.layers[2].negative_slope == 0.05
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
    assert dl2.ReLU().get_config() == dict(name='re_lu', trainable=True, max_value=None, negative_slope=0.0, threshold=0.0)

# ---- Reshape, Flatten, Softmax: checked when built

def test_reshape_minus_one(f64, rng):
    x = rng.standard_normal((2, 3, 4))
    for target, expected in [((-1,), (12,)), ((-1, 6), (2, 6)), ((3, -1, 2), (3, 2, 2)), ((12, -1), (12, 1))]:
        r = dl2.Reshape(target)
        assert r(x).shape == (2,) + expected and r.output_shape == (None,) + expected
        assert r.get_config()['target_shape'] == list(target)            # saved as given, as Keras does
        check_layer(dl2.Reshape(target), x)

@pytest.mark.parametrize('target, text', [
    ((5,), "Layer 'reshape': cannot reshape input (2, 3, 4) (12 values per sample) to target_shape (5,) (5 values)"),
    ((-1, 5), "Layer 'reshape': cannot reshape input (2, 3, 4) (12 values per sample) to target_shape (-1, 5) "
              "(12 is not a multiple of 5)"),
    ((7, -1), "(12 is not a multiple of 7)")])
def test_reshape_size_checked_when_built(target, text):
    r = dl2.Reshape(target)
    with pytest.raises(ValueError) as e: r(np.zeros((2, 3, 4)))
    assert text in str(e.value), str(e.value)
    assert not r.built and r.input_shape is None                         # a failed build changes nothing
    with pytest.raises(ValueError, match=re.escape("(None, 3, 4) (12 values per sample)")):
        r.compute_output_shape((None, 3, 4))
    with pytest.raises(ValueError, match=re.escape("Layer 'reshape': needs a known size for every axis but the batch axis, "
                                                   "received input shape (None, None, 4)")):
        r.compute_output_shape((None, None, 4))
    with pytest.raises(ValueError, match="needs a known size"): r.build((None, 3, None))
    assert not r.built

def test_reshape_in_a_model_names_the_layer():
    with pytest.raises(ValueError, match=r"Layer 'to_image': cannot reshape input \(None, 10\)"):
        dl2.Sequential([dl2.Input((10,)), dl2.Reshape((3, 3), name='to_image')])

def test_flatten_and_reshape_accept_an_empty_batch():
    assert dl2.Flatten()(np.zeros((0, 2, 3))).shape == (0, 6)
    assert dl2.Reshape((-1, 3))(np.zeros((0, 6))).shape == (0, 2, 3)

def test_softmax_axis():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for axis in (-1, 2):
        np.testing.assert_allclose(dl2.Softmax(axis=axis)(x).sum(-1), 1, rtol=1e-6)
    for axis in (0, 1, -2, 3):
        s = dl2.Softmax(axis=axis)
        with pytest.raises(ValueError, match=rf"Layer 'softmax': softmax over axis {axis} of input \(2, 3, 4\) is not supported"):
            s(x)
        assert not s.built
    assert dl2.Softmax(axis=2).get_config()['axis'] == 2

# ---- None sizes (Keras' Input((None, None, 3))): layers that do not need a size take any; the others refuse None by name

@pytest.mark.parametrize('make', [lambda: dl2.ReLU(), lambda: dl2.ReLU(max_value=1.0, negative_slope=0.2, threshold=0.3),
                                  lambda: dl2.LeakyReLU(0.1), lambda: dl2.Activation('tanh'), lambda: dl2.Softmax()],
                         ids=['relu', 'relu-args', 'leaky', 'tanh', 'softmax'])
def test_activation_layers_take_unknown_sizes(f64, rng, make):
    layer = make()
    layer.build((None, None, None, 3))
    assert layer.input_shape == layer.output_shape == (None, None, None, 3)
    for hw in [(4, 5), (2, 7)]:
        x = rng.standard_normal((2, *hw, 3))
        assert layer(x).shape == x.shape
        check_layer(layer, x)
    with pytest.raises(ValueError, match=re.escape("expected input shape (None, None, None, 3), received (2, 4, 5, 2)")):
        layer(np.zeros((2, 4, 5, 2)))

@pytest.mark.parametrize('make, shape, text', [
    (lambda: dl2.Dense(3), (None, None),
     "Layer 'dense': needs a known size for the last axis (the input features), received input shape (None, None)"),
    (lambda: dl2.Flatten(), (None, None, None, 3),
     "Layer 'flatten': needs a known size for every axis but the batch axis, received input shape (None, None, None, 3)"),
    (lambda: dl2.Flatten(name='f'), (None, 5, None), "Layer 'f': needs a known size for every axis but the batch axis"),
    (lambda: dl2.Reshape((-1,)), (None, None, 4), "Layer 'reshape': needs a known size for every axis but the batch axis")],
    ids=['dense', 'flatten', 'flatten-named', 'reshape'])
def test_layers_that_need_a_size_refuse_none_when_built(make, shape, text):
    layer = make()
    with pytest.raises(ValueError) as e: layer.build(shape)
    assert type(e.value) is ValueError and text in str(e.value), str(e.value)
    assert not layer.built and layer.input_shape is None and layer.weights == []     # validated before mutating
    if not isinstance(layer, dl2.Dense):
        with pytest.raises(ValueError, match='needs a known size'): layer.compute_output_shape(shape)

def test_flatten_with_known_sizes_still_builds():
    f = dl2.Flatten()
    f.build((None, 2, 3, 4))
    assert f.output_shape == (None, 24)

# ---- saving an activation by name must not load another one

def test_unregistered_activation_function_is_not_saved_under_a_wrong_name(tmp_path):
    d = dl2.Dense(3, activation=leaky_relu_fn(0.01))                      # named 'leaky_relu', slope 0.2 by that name
    with pytest.raises(ValueError, match=r"Layer 'dense': its activation ActivationFn\('leaky_relu'\) is not the one registered"):
        d.get_config()
    a = dl2.Activation(ActivationFn('relu', lambda z: z, lambda a, da: da))
    with pytest.raises(ValueError, match="is not the one registered as 'relu'"): a.get_config()
    assert dl2.Dense(3, activation=ACTIVATIONS['tanh']).get_config()['activation'] == 'tanh'
    m = dl2.Sequential([dl2.Input((2,)), d])
    with pytest.raises(ValueError, match='is not the one registered'): m.save(tmp_path / 'm.npz')
    assert not (tmp_path / 'm.npz').exists()

# ---- property: any argument either builds a working layer or is refused with TypeError/ValueError

# floats within +-1e6: a slope or threshold near 1e308 overflows float32 (to inf) in Keras as it does here
ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.floats(-1e6, 1e6), st.sampled_from([nan, inf, -inf]),
                st.text(max_size=3), st.sampled_from(['relu', 'tanh', 'softmax', 'zeros', 'he_normal', 'linear']),
                st.tuples(st.integers(-2, 12), st.integers(-2, 12)), st.lists(st.integers(-2, 12), max_size=3),
                st.tuples(st.floats(-2, 12), st.integers(1, 4)))

def _try(make):
    try: return make()
    except (TypeError, ValueError): return None

@settings(max_examples=300, deadline=None)
@given(st.sampled_from(['Dense', 'Activation', 'ReLU', 'LeakyReLU', 'Softmax', 'Reshape']), ANY, ANY, ANY)
def test_any_arguments_build_a_working_layer_or_are_refused(cls, a, b, c):
    x = np.random.default_rng(0).standard_normal((2, 12))
    make = {'Dense': lambda: dl2.Dense(a, activation=b, use_bias=c), 'Activation': lambda: dl2.Activation(a),
            'ReLU': lambda: dl2.ReLU(a, b, c), 'LeakyReLU': lambda: dl2.LeakyReLU(a),
            'Softmax': lambda: dl2.Softmax(a), 'Reshape': lambda: dl2.Reshape(a)}[cls]
    layer = _try(make)
    if layer is None: return
    try: out = layer(x, training=True)
    except ValueError as e:                   # only a shape that does not fit may be refused at build
        assert cls in ('Reshape', 'Softmax') and not layer.built, str(e)
        return
    assert out.dtype == np.float32 and np.isfinite(out).all() and out.shape[0] == 2
    if cls == 'Reshape': assert math.prod(out.shape) == x.size
    dx = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape and np.isfinite(dx).all()
    layer.get_config()
