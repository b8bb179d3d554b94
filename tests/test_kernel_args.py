"""The public array functions check their arguments before a Numba kernel runs. The kernels do not check bounds, so a
bad call that reached one would read or write outside its arrays (mismatched shapes used to kill the interpreter).
Every bad call must raise a TypeError or a ValueError that names the function.

Two parts: a table of bad calls, each with the message it must give; and property-based tests (hypothesis) that draw
shapes for several arguments at once, often mismatched, and check each call against an oracle (valid arguments: the
right result; invalid ones: TypeError or ValueError). Both run in one subprocess, so that a crash (a check gone missing
lets a kernel corrupt the heap) is reported as failed tests naming the check that was running, not as a dead test run.
`DL2_FUZZ_EXAMPLES=2000 python -m pytest tests/test_kernel_args.py` fuzzes longer."""
import json, os, subprocess, sys, traceback
import numpy as np, pytest
from hypothesis import given, settings, HealthCheck, strategies as st
from dl2.conv import (conv2d_forward, conv2d_backward, conv2d_backward_input, conv2d_naive, conv2d_backward_naive,
                      conv_output_shape, conv_algorithm)
from dl2.conv_transpose import (conv_transpose2d_forward, conv_transpose2d_backward, conv_transpose2d_naive,
                                conv_transpose_output_shape)
from dl2.sampling import (maxpool2d_forward, maxpool2d_backward, maxpool_naive, maxpool_backward_naive,
                          avgpool2d_forward, avgpool2d_backward, upsample2d_forward, upsample2d_backward)
from dl2.batchnorm import batchnorm_forward, batchnorm_backward, batchnorm_inference, batchnorm_naive

# ---------------------------------------------------------------------------------------------------------------------
# The table: one bad argument at a time, on otherwise valid calls

def ones(*shape, dtype=np.float32): return np.ones(shape, dtype)

X = np.random.default_rng(0).standard_normal((2, 6, 5, 3)).astype(np.float32)   # input (N, H, W, C)
W = ones(3, 2, 3, 4)                      # convolution kernel (KH, KW, C, F): output (2, 4, 4, 4)
WT = ones(3, 2, 4, 3)                     # transposed convolution kernel (KH, KW, F, C): output (2, 8, 6, 4)
D = ones(2, 4, 4, 4)                      # dout of conv2d_forward(X, W)
DT = ones(2, 8, 6, 4)                     # dout of conv_transpose2d_forward(X, WT)
P, ARG = maxpool2d_forward(X)             # (2, 3, 2, 3)
XB = ones(8, 3)                           # batch-norm input (M, F)
_, MU, VAR, INV = batchnorm_forward(XB + np.arange(24, dtype=np.float32).reshape(8, 3), ones(3), ones(3))
G = ones(3)

BAD = [  # (function, call, exception, the message must contain this)
    # convolution
    ('conv2d_forward', lambda: conv2d_forward(X[0], W), ValueError, 'x must have shape (N, H, W, C), received (6, 5, 3)'),
    ('conv2d_forward', lambda: conv2d_forward(X, W[0]), ValueError, 'w must have shape (KH, KW, C, F), received (2, 3, 4)'),
    ('conv2d_forward', lambda: conv2d_forward(X, ones(3, 2, 2, 4)), ValueError, 'input has 3 channels but the kernel (3, 2, 2, 4) expects 2'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, ones(3)), ValueError, 'b must have shape (4,), received (3,)'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, ones(1, 4)), ValueError, 'b must have shape (4,), received (1, 4)'),
    ('conv2d_forward', lambda: conv2d_forward(X[:0], W), ValueError, 'x must not be empty, received shape (0, 6, 5, 3)'),
    ('conv2d_forward', lambda: conv2d_forward(X[:, :0], W, padding='same'), ValueError, 'x must not be empty'),
    ('conv2d_forward', lambda: conv2d_forward(X, ones(3, 2, 3, 0)), ValueError, 'w must not be empty'),
    ('conv2d_forward', lambda: conv2d_forward(X.astype(int), W), TypeError, 'x must be a float32 or float64 array, received dtype int64'),
    ('conv2d_forward', lambda: conv2d_forward(X.astype(np.float16), W), TypeError, 'x must be a float32 or float64 array'),
    ('conv2d_forward', lambda: conv2d_forward(X.tolist(), W), TypeError, 'x must be a NumPy array, received list'),
    ('conv2d_forward', lambda: conv2d_forward(X, W.astype(str)), TypeError, 'w must be an array of real numbers, received dtype <U'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, ones(4).astype(complex)), TypeError, 'b must be an array of real numbers'),
    ('conv2d_forward', lambda: conv2d_forward(X, ones(7, 2, 3, 4)), ValueError, 'kernel 7×2 is larger than the input 6×5'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, strides=0), ValueError, 'strides must be a positive int or a pair'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, strides=(1, 2, 1)), ValueError, 'strides must be a positive int'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, strides=1.0), TypeError, 'strides must be an int or a pair of ints, received 1.0'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, strides=True), TypeError, 'strides must be an int or a pair of ints'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, padding='full'), ValueError, "padding must be one of ('valid', 'same'), received 'full'"),
    ('conv2d_forward', lambda: conv2d_forward(X, W, padding=None), TypeError, 'padding must be one of'),
    ('conv2d_forward', lambda: conv2d_forward(X, W, cache=[]), TypeError, 'cache must be a dict or None, received list'),
    ('conv2d_backward', lambda: conv2d_backward(D[:, :3], X, W), ValueError, 'dout must have shape (2, 4, 4, 4), received (2, 3, 4, 4)'),
    ('conv2d_backward', lambda: conv2d_backward(D[:1], X, W), ValueError, 'dout must have shape (2, 4, 4, 4), received (1, 4, 4, 4)'),
    ('conv2d_backward', lambda: conv2d_backward(D[..., :3], X, W), ValueError, 'dout must have shape (2, 4, 4, 4)'),
    ('conv2d_backward', lambda: conv2d_backward(D[0], X, W), ValueError, 'dout must have shape (2, 4, 4, 4), received (4, 4, 4)'),
    ('conv2d_backward', lambda: conv2d_backward(D, X, ones(3, 2, 4, 4)), ValueError, 'input has 3 channels'),
    ('conv2d_backward', lambda: conv2d_backward(D[:0], X[:0], W), ValueError, 'x must not be empty'),
    ('conv2d_backward', lambda: conv2d_backward(D.astype(bool), X, W), TypeError, 'dout must be an array of real numbers'),
    ('conv2d_backward', lambda: conv2d_backward(D, X, W, need_dx='yes'), TypeError, 'need_dx must be True or False'),
    ('conv2d_backward', lambda: conv2d_backward(D, X, W, need_dw=None), TypeError, 'need_dw must be True or False'),
    ('conv2d_backward_input', lambda: conv2d_backward_input(D, W, (2, 6, 5)), ValueError, 'input_shape must be 4 positive ints'),
    ('conv2d_backward_input', lambda: conv2d_backward_input(D, W, (2, 6.0, 5, 3)), TypeError, 'input_shape must be a tuple of 4 ints'),
    ('conv2d_backward_input', lambda: conv2d_backward_input(D, W, (2, 7, 5, 3)), ValueError, 'dout must have shape (2, 5, 4, 4), received (2, 4, 4, 4)'),
    ('conv2d_backward_input', lambda: conv2d_backward_input(D, W, (0, 6, 5, 3)), ValueError, 'input_shape must be 4 positive ints'),
    # transposed convolution
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X, W), ValueError, 'kernel (3, 2, 3, 4) does not match an input with 3 channels'),
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X, WT, ones(3)), ValueError, 'b must have shape (4,), received (3,)'),
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X[0], WT), ValueError, 'x must have shape (N, H, W, C)'),
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X, WT[None]), ValueError, 'w must have shape (KH, KW, F, C)'),
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X[:0], WT), ValueError, 'x must not be empty'),
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X.astype(np.int32), WT), TypeError, 'x must be a float32 or float64 array'),
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X, WT, strides=(0, 1)), ValueError, 'strides must be a positive int'),
    ('conv_transpose2d_forward', lambda: conv_transpose2d_forward(X, WT, padding='causal'), ValueError, 'padding must be one of'),
    ('conv_transpose2d_backward', lambda: conv_transpose2d_backward(D, X, WT), ValueError, 'dout must have shape (2, 8, 6, 4), received (2, 4, 4, 4)'),
    ('conv_transpose2d_backward', lambda: conv_transpose2d_backward(DT[..., :2], X, WT), ValueError, 'dout must have shape (2, 8, 6, 4)'),
    ('conv_transpose2d_backward', lambda: conv_transpose2d_backward(DT, X, ones(3, 2, 4, 2)), ValueError, 'does not match an input with 3 channels'),
    ('conv_transpose2d_backward', lambda: conv_transpose2d_backward(DT[:0], X[:0], WT), ValueError, 'x must not be empty'),
    ('conv_transpose2d_backward', lambda: conv_transpose2d_backward(DT, X, WT, need_dx=1), TypeError, 'need_dx must be True or False'),
    # pooling and upsampling
    ('maxpool2d_forward', lambda: maxpool2d_forward(X[0]), ValueError, 'x must have shape (N, H, W, C), received (6, 5, 3)'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X[:0]), ValueError, 'x must not be empty'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X[..., :0]), ValueError, 'x must not be empty'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X.astype(np.uint8)), TypeError, 'x must be a float32 or float64 array, received dtype uint8'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X, 0), ValueError, 'pool_size must be a positive int'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X, 2.0), TypeError, 'pool_size must be an int or a pair of ints'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X, 2, strides=-1), ValueError, 'strides must be a positive int'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X, 7), ValueError, 'pool 7×7 is larger than the input 6×5'),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X, padding='FULL'), ValueError, "padding must be one of ('valid', 'same'), received 'FULL'"),
    ('maxpool2d_forward', lambda: maxpool2d_forward(X, padding=b'same'), TypeError, "padding must be one of ('valid', 'same'), received b'same' (bytes)"),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P[:, :2], ARG, X.shape), ValueError, "arg must have dout's shape (2, 2, 2, 3), received (2, 3, 2, 3)"),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG[:1], X.shape), ValueError, "arg must have dout's shape (2, 3, 2, 3), received (1, 3, 2, 3)"),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG + 30, X.shape), ValueError, 'arg holds pixel offsets h*W + v in [0, 30), received values in'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG - 100, X.shape), ValueError, 'arg holds pixel offsets'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG.astype(np.float32), X.shape), TypeError, 'arg must be an integer array'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG.tolist(), X.shape), TypeError, 'arg must be an integer array'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG, (1, 6, 5, 3)), ValueError, 'dout (2, 3, 2, 3) cannot be the output of pooling an input of shape (1, 6, 5, 3)'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG, (2, 6, 5, 4)), ValueError, 'cannot be the output of pooling'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG, (2, 2, 5, 3)), ValueError, 'cannot be the output of pooling'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG, (2, 6, 5)), ValueError, 'x_shape must be 4 positive ints'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG, (2, 6, 5, 0)), ValueError, 'x_shape must be 4 positive ints'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P, ARG, X), TypeError, 'x_shape must be a tuple of 4 ints'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P[:0], ARG[:0], X.shape), ValueError, 'dout must not be empty'),
    ('maxpool2d_backward', lambda: maxpool2d_backward(P.astype(int), ARG, X.shape), TypeError, 'dout must be a float32 or float64 array'),
    ('avgpool2d_forward', lambda: avgpool2d_forward(X[None]), ValueError, 'x must have shape (N, H, W, C), received (1, 2, 6, 5, 3)'),
    ('avgpool2d_forward', lambda: avgpool2d_forward(X[:0]), ValueError, 'x must not be empty'),
    ('avgpool2d_forward', lambda: avgpool2d_forward(X.astype(bool)), TypeError, 'x must be a float32 or float64 array'),
    ('avgpool2d_forward', lambda: avgpool2d_forward(X, (2, 0)), ValueError, 'pool_size must be a positive int'),
    ('avgpool2d_forward', lambda: avgpool2d_forward(X, (2, 6)), ValueError, 'pool 2×6 is larger than the input 6×5'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P[:, :2], X.shape), ValueError, 'dout must have shape (2, 3, 2, 3), received (2, 2, 2, 3)'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P, (2, 12, 5, 3)), ValueError, 'dout must have shape (2, 6, 2, 3), received (2, 3, 2, 3)'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P, (3, 6, 5, 3)), ValueError, 'dout must have shape (3, 3, 2, 3)'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P, (2, 6, 5, 3), 3), ValueError, 'dout must have shape (2, 2, 1, 3)'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P, (2, 1, 5, 3)), ValueError, 'pool 2×2 is larger than the input 1×5'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P, [2, 6, 5, None]), TypeError, 'x_shape must be a tuple of 4 ints'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P[:0], (0, 6, 5, 3)), ValueError, 'x_shape must be 4 positive ints'),
    ('avgpool2d_backward', lambda: avgpool2d_backward(P.astype(np.int16), X.shape), TypeError, 'dout must be a float32 or float64 array'),
    ('upsample2d_forward', lambda: upsample2d_forward(X[0]), ValueError, 'x must have shape (N, H, W, C), received (6, 5, 3)'),
    ('upsample2d_forward', lambda: upsample2d_forward(X[:0]), ValueError, 'x must not be empty'),
    ('upsample2d_forward', lambda: upsample2d_forward(X, 0), ValueError, 'size must be a positive int'),
    ('upsample2d_forward', lambda: upsample2d_forward(X, '2'), TypeError, 'size must be an int or a pair of ints'),
    ('upsample2d_forward', lambda: upsample2d_forward(X.astype(complex)), TypeError, 'x must be a float32 or float64 array'),
    ('upsample2d_backward', lambda: upsample2d_backward(ones(2, 5, 4, 3)), ValueError, 'dout (2, 5, 4, 3) is not an upsampling by (2, 2)'),
    ('upsample2d_backward', lambda: upsample2d_backward(ones(2, 1, 4, 3)), ValueError, 'is not an upsampling by (2, 2)'),
    ('upsample2d_backward', lambda: upsample2d_backward(ones(2, 6, 4, 3), (3, 3)), ValueError, 'is not an upsampling by (3, 3)'),
    ('upsample2d_backward', lambda: upsample2d_backward(ones(6, 4, 3)), ValueError, 'dout must have shape (N, OH, OW, C), received (6, 4, 3)'),
    ('upsample2d_backward', lambda: upsample2d_backward(ones(0, 4, 4, 3)), ValueError, 'dout must not be empty'),
    ('upsample2d_backward', lambda: upsample2d_backward(ones(2, 4, 4, 3), (2, None)), TypeError, 'size must be an int or a pair of ints'),
    # batch normalization
    ('batchnorm_forward', lambda: batchnorm_forward(ones(3), G, G), ValueError, 'x must have shape (..., F), at least 2-D, received (3,)'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, ones(4), G), ValueError, 'gamma must have shape (3,), received (4,)'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, G, ones(1, 3)), ValueError, 'beta must have shape (3,), received (1, 3)'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB[:0], G, G), ValueError, 'x must not be empty, received shape (0, 3)'),
    ('batchnorm_forward', lambda: batchnorm_forward(ones(2, 0, 3), G, G), ValueError, 'x must not be empty'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB[:, :0], G[:0], G[:0]), ValueError, 'x must not be empty'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB.astype(int), G, G), TypeError, 'x must be a float32 or float64 array'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, G.astype(object), G), TypeError, 'gamma must be an array of real numbers'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, [1, 1, 1], G), TypeError, 'gamma must be a NumPy array, received list'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, G, G, eps=0), ValueError, 'eps must be a positive number, received 0'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, G, G, eps=float('nan')), ValueError, 'eps must be a positive number'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, G, G, eps=float('inf')), ValueError, 'eps must be a positive number'),
    ('batchnorm_forward', lambda: batchnorm_forward(XB, G, G, eps='1e-3'), TypeError, "eps must be a positive number, received '1e-3' (str)"),
    ('batchnorm_backward', lambda: batchnorm_backward(XB[:4], XB, G, MU, INV), ValueError, 'dout must have shape (8, 3), received (4, 3)'),
    ('batchnorm_backward', lambda: batchnorm_backward(XB.T, XB, G, MU, INV), ValueError, 'dout must have shape (8, 3), received (3, 8)'),
    ('batchnorm_backward', lambda: batchnorm_backward(XB, XB, G, MU[:2], INV), ValueError, 'mu must have shape (3,), received (2,)'),
    ('batchnorm_backward', lambda: batchnorm_backward(XB, XB, G, MU, INV[:, None]), ValueError, 'inv must have shape (3,), received (3, 1)'),
    ('batchnorm_backward', lambda: batchnorm_backward(XB, XB, ones(4), MU, INV), ValueError, 'gamma must have shape (3,), received (4,)'),
    ('batchnorm_backward', lambda: batchnorm_backward(XB[:0], XB[:0], G, MU, INV), ValueError, 'x must not be empty'),
    ('batchnorm_backward', lambda: batchnorm_backward(XB.astype(str), XB, G, MU, INV), TypeError, 'dout must be an array of real numbers'),
    ('batchnorm_inference', lambda: batchnorm_inference(XB, G, G, MU[:2], VAR), ValueError, 'moving_mean must have shape (3,), received (2,)'),
    ('batchnorm_inference', lambda: batchnorm_inference(XB, G, G, MU, VAR[:1]), ValueError, 'moving_var must have shape (3,), received (1,)'),
    ('batchnorm_inference', lambda: batchnorm_inference(XB, G, G, MU, -VAR), ValueError, 'moving_var must not be negative'),
    ('batchnorm_inference', lambda: batchnorm_inference(XB[:0], G, G, MU, VAR), ValueError, 'x must not be empty'),
    ('batchnorm_inference', lambda: batchnorm_inference(XB, G, G, MU, VAR, eps=-1.0), ValueError, 'eps must be a positive number'),
    ('batchnorm_inference', lambda: batchnorm_inference(XB.astype(np.float16), G, G, MU, VAR), TypeError, 'x must be a float32 or float64 array'),
]

def bad_call(fn, call, exc, message):
    "None if `call` raises `exc` with a message that starts with `fn` and contains `message`; else what went wrong."
    try: call()
    except exc as e:
        if not str(e).startswith(f"{fn}: "): return f"the message does not start with the function's name: {e}"
        return None if message in str(e) else f"expected {message!r} in the message, received: {e}"
    return f"{fn} did not raise {exc.__name__} (expected {message!r})"

def test_every_public_array_function_is_in_the_table():
    import re, dl2.conv, dl2.conv_transpose, dl2.sampling, dl2.batchnorm
    mods = [dl2.conv, dl2.conv_transpose, dl2.sampling, dl2.batchnorm]
    funcs = {n for m in mods for n in m.__all__ if re.search(r'_(forward|backward|inference|backward_input)$', n)}
    assert len(funcs) == 14 and funcs - {b[0] for b in BAD} == set()

def test_the_valid_calls_of_the_table_work():
    "The table's arrays are valid: each bad call differs from a working call in the one argument it breaks."
    assert conv2d_forward(X, W).shape == D.shape and conv2d_backward(D, X, W)[0].shape == X.shape
    assert conv2d_backward_input(D, W, X.shape).shape == X.shape
    assert conv_transpose2d_forward(X, WT).shape == DT.shape and conv_transpose2d_backward(DT, X, WT)[1].shape == WT.shape
    assert maxpool2d_backward(P, ARG, X.shape).shape == X.shape and avgpool2d_backward(P, X.shape).shape == X.shape
    assert upsample2d_backward(ones(2, 4, 6, 3), (2, 3)).shape == (2, 2, 2, 3)
    assert batchnorm_backward(XB, XB, G, MU, INV)[0].shape == XB.shape
    assert batchnorm_inference(XB, G, G, MU, VAR).shape == XB.shape

# ---------------------------------------------------------------------------------------------------------------------
# Properties: random shapes for several arguments at once. A plan chooses which arguments to break: none a third of the
# time, exactly one a third of the time (so that every check meets its own case), any subset otherwise. Each call is
# checked against an oracle that looks at the arguments actually drawn: valid arguments must give the right result (the
# naive loops of the chapters, or an identity), invalid ones a TypeError or a ValueError naming the function. Anything
# else (another exception, a wrong shape, a wrong value, a crash) fails.

EXAMPLES = int(os.environ.get('DL2_FUZZ_EXAMPLES', 100))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FLOATS = (np.float32, np.float64)
good_primary, bad_primary = st.sampled_from(FLOATS), st.sampled_from([np.int32, np.float16, np.bool_, np.complex64, 'list'])
good_other, bad_other = st.sampled_from(FLOATS + (np.int64,)), st.sampled_from([np.complex64, np.bool_, 'U1', 'list'])
good_pair = st.one_of(st.tuples(st.integers(1, 3), st.integers(1, 3)), st.integers(1, 3))
bad_pair = st.sampled_from([0, -1, (1, 0), 1.0, True, '2', (1, 2, 1), None, [2.0, 1], float('inf')])
good_padding = st.sampled_from(['valid', 'same', 'SAME', 'Valid'])       # any case, as in Keras
bad_padding = st.sampled_from(['full', 'FULL', 'causal', '', None, 1, b'same'])
def canon(padding): return padding.lower() if isinstance(padding, str) else padding   # the padding an oracle means

@st.composite
def changed(draw, shape):
    "`shape` with one axis changed (perhaps to 0), one axis added, or the last one dropped."
    shape, how = tuple(shape), draw(st.integers(0, 3))
    if how == 0 and shape: return shape[:-1]
    if how == 1 or not shape: return shape + (draw(st.integers(1, 3)),)
    i = draw(st.integers(0, len(shape) - 1))
    return shape[:i] + (draw(st.integers(0, 7)),) + shape[i + 1:]

class Plan:
    "Draws arguments, broken or not as the plan says."
    def __init__(self, data, *names):
        self.draw = data.draw
        mode = data.draw(st.sampled_from(['one', 'some', 'none']))
        self.broken = (set() if mode == 'none' else {data.draw(st.sampled_from(names))} if mode == 'one'
                       else data.draw(st.sets(st.sampled_from(names))))
    def shape(self, name, shape): return self.draw(changed(shape)) if name in self.broken else tuple(shape)
    def pick(self, name, good, bad): return self.draw(bad if name in self.broken else good)
    def array(self, name, shape, good, bad, rng):
        "A random array named `name` (its shape broken as `name`, its dtype as `name dtype`)."
        shape, dtype = self.shape(name, shape), self.pick(f"{name} dtype", good, bad)
        a = rng.standard_normal(shape) + 0.5
        return shape, (a.tolist() if dtype == 'list' else a.astype(dtype))

def is_pair(v): return (isinstance(v, tuple) and len(v) == 2 and all(type(i) is int and i > 0 for i in v)
                        or type(v) is int and v > 0)
def as_pair(v): return ((v, v) if isinstance(v, int) else v) if is_pair(v) else (1, 1)
def floats(a): return isinstance(a, np.ndarray) and a.dtype in FLOATS
def real(a): return isinstance(a, np.ndarray) and a.dtype.kind in 'iuf'
def full(shape, n): return len(shape) == n and 0 not in shape

def expect(fn, ok, call, check):
    "Run `call`: if `ok`, it must succeed and pass `check`; else it must raise a TypeError or a ValueError naming `fn`."
    try: out = call()
    except (TypeError, ValueError) as e:
        assert str(e).startswith(f"{fn}: "), f"{fn}: the message does not name the function: {e}"
        assert not ok, f"{fn} refused valid arguments: {e}"
        return None
    assert ok, f"{fn} accepted invalid arguments"
    check(out)
    return out

def close(a, b, dtype, scale=1.0):
    tol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)

@fuzz
@given(st.data())
def conv_pair(data):
    p, rng = Plan(data, 'x', 'x dtype', 'w', 'w dtype', 'b', 'b dtype', 'strides', 'padding', 'dout', 'dout dtype'), \
        np.random.default_rng(0)
    N, H, W, C, F, KH, KW = (p.draw(st.integers(1, 5)) for _ in range(7))
    strides, padding = p.pick('strides', good_pair, bad_pair), p.pick('padding', good_padding, bad_padding)
    pad = canon(padding)
    xs, x = p.array('x', (N, H, W, C), good_primary, bad_primary, rng)
    ws, w = p.array('w', (KH, KW, C, F), good_other, bad_other, rng)
    bs, b = p.array('b', (F,), good_other, bad_other, rng) if p.draw(st.booleans()) else ((F,), None)
    core = (floats(x) and real(w) and full(xs, 4) and full(ws, 4) and ws[2] == xs[3] and is_pair(strides)
            and pad in ('valid', 'same') and (pad == 'same' or ws[0] <= xs[1] and ws[1] <= xs[2]))
    s = as_pair(strides)
    out_shape = (xs[0], *conv_output_shape(*xs[1:3], *ws[:2], s, pad)[:2], ws[3]) if core else (N, 2, 2, F)
    with conv_algorithm(p.draw(st.sampled_from(['direct', 'winograd', 'winograd4', 'im2col']))):
        def check(out):
            assert out.shape == out_shape and out.dtype == x.dtype
            bias = np.zeros(ws[3]) if b is None else b.astype(np.float64)
            close(out, conv2d_naive(x.astype(np.float64), w.astype(np.float64), bias, s, pad), x.dtype)
        ok = core and (b is None or real(b) and bs == ws[3:])
        expect('conv2d_forward', ok, lambda: conv2d_forward(x, w, b, strides, padding), check)
        ds, dout = p.array('dout', out_shape, good_other, bad_other, rng)
        def check_b(grads):
            want = conv2d_backward_naive(dout.astype(np.float64), x.astype(np.float64), w.astype(np.float64), s, pad)
            for g, r in zip(grads, want): close(g, r, x.dtype, scale=np.abs(r).max())
        ok_b = core and ds == out_shape and real(dout)
        expect('conv2d_backward', ok_b, lambda: conv2d_backward(dout, x, w, strides, padding), check_b)

@fuzz
@given(st.data())
def conv_transpose_pair(data):
    p, rng = Plan(data, 'x', 'x dtype', 'w', 'w dtype', 'b', 'b dtype', 'strides', 'padding', 'dout', 'dout dtype'), \
        np.random.default_rng(1)
    N, H, W, C, F, KH, KW = (p.draw(st.integers(1, 4)) for _ in range(7))
    strides, padding = p.pick('strides', good_pair, bad_pair), p.pick('padding', good_padding, bad_padding)
    pad = canon(padding)
    xs, x = p.array('x', (N, H, W, C), good_primary, bad_primary, rng)
    ws, w = p.array('w', (KH, KW, F, C), good_other, bad_other, rng)
    bs, b = p.array('b', (F,), good_other, bad_other, rng) if p.draw(st.booleans()) else ((F,), None)
    core = (floats(x) and real(w) and full(xs, 4) and full(ws, 4) and ws[3] == xs[3] and is_pair(strides)
            and pad in ('valid', 'same'))
    s = as_pair(strides)
    out_shape = (xs[0], *conv_transpose_output_shape(*xs[1:3], *ws[:2], s, pad), ws[2]) if core else (N, 3, 3, F)
    def check(out):
        assert out.shape == out_shape and out.dtype == x.dtype
        bias = 0 if b is None else b.astype(np.float64)
        close(out, conv_transpose2d_naive(x.astype(np.float64), w.astype(np.float64), bias, s, pad), x.dtype)
    ok = core and (b is None or real(b) and bs == ws[2:3])
    expect('conv_transpose2d_forward', ok, lambda: conv_transpose2d_forward(x, w, b, strides, padding), check)
    ds, dout = p.array('dout', out_shape, good_other, bad_other, rng)
    def check_b(grads):
        assert [g.shape for g in grads] == [x.shape, w.shape, (ws[2],)]
        # the output is linear in x and in w: <y, dout> = <x, dx> = <w, dw>
        y = conv_transpose2d_naive(x.astype(np.float64), w.astype(x.dtype).astype(np.float64), 0, s, pad)
        yd = y * dout.astype(x.dtype)
        close(np.sum(yd), np.sum(x * grads[0]), x.dtype, scale=np.abs(yd).sum())
        close(np.sum(yd), np.sum(w.astype(x.dtype) * grads[1]), x.dtype, scale=np.abs(yd).sum())
    ok_b = core and ds == out_shape and real(dout)
    expect('conv_transpose2d_backward', ok_b, lambda: conv_transpose2d_backward(dout, x, w, strides, padding), check_b)

@fuzz
@given(st.data())
def maxpool_pair(data):
    p, rng = Plan(data, 'x', 'x dtype', 'pool', 'strides', 'padding', 'dout', 'dout dtype', 'arg', 'arg dtype',
                  'arg values', 'x_shape'), np.random.default_rng(2)
    N, H, W, C = (p.draw(st.integers(1, 6)) for _ in range(4))
    pool, padding = p.pick('pool', good_pair, bad_pair), p.pick('padding', good_padding, bad_padding)
    pad = canon(padding)
    strides = p.pick('strides', st.none() | good_pair, bad_pair)
    xs, x = p.array('x', (N, H, W, C), good_primary, bad_primary, rng)
    geometry = (full(xs, 4) and is_pair(pool) and (strides is None or is_pair(strides)) and pad in ('valid', 'same')
                and (pad == 'same' or as_pair(pool)[0] <= xs[1] and as_pair(pool)[1] <= xs[2]))
    def check(res):
        ref, rarg = maxpool_naive(x, as_pair(pool), strides and as_pair(strides), pad)
        np.testing.assert_array_equal(res[0], ref)
        np.testing.assert_array_equal(res[1], rarg)
    res = expect('maxpool2d_forward', floats(x) and geometry, lambda: maxpool2d_forward(x, pool, strides, padding), check)
    # the backward pass: dout, arg and x_shape each perhaps broken
    out_shape = res[1].shape if res is not None else (N, max(1, H // 2), max(1, W // 2), C)
    ds, dout = p.array('dout', out_shape, good_primary, bad_primary, rng)
    arg = res[1] if res is not None and p.draw(st.booleans()) else rng.integers(0, H * W, out_shape)
    arg = rng.integers(0, H * W, p.draw(changed(out_shape))) if 'arg' in p.broken else arg
    arg = arg.astype(p.pick('arg dtype', st.sampled_from([np.int32, np.int64, np.uint8]), st.just(np.float32)))
    fits = lambda v: arg.dtype.kind == 'f' or np.iinfo(arg.dtype).min <= v <= np.iinfo(arg.dtype).max - H * W
    shifts = [v for v in (-1, H * W, 2**40) if fits(v)]          # out of [0, H*W), and representable in arg's dtype
    arg = arg + p.pick('arg values', st.just(0), st.sampled_from(shifts)) if arg.size else arg
    x_shape = p.shape('x_shape', (N, H, W, C))
    ok_b = (full(x_shape, 4) and floats(dout) and full(ds, 4) and ds[0] == x_shape[0] and ds[3] == x_shape[3]
            and ds[1] <= x_shape[1] and ds[2] <= x_shape[2] and arg.dtype.kind in 'iu' and arg.shape == ds
            and arg.min() >= 0 and arg.max() < x_shape[1] * x_shape[2])
    def check_b(dx): np.testing.assert_array_equal(dx, maxpool_backward_naive(dout, arg, x_shape))
    expect('maxpool2d_backward', ok_b, lambda: maxpool2d_backward(dout, arg, x_shape), check_b)

@fuzz
@given(st.data())
def avgpool_and_upsample_pairs(data):
    p, rng = Plan(data, 'x', 'x dtype', 'pool', 'strides', 'padding', 'dout', 'dout dtype', 'x_shape', 'size',
                  'du', 'du dtype'), np.random.default_rng(3)
    N, H, W, C = (p.draw(st.integers(1, 6)) for _ in range(4))
    pool, padding = p.pick('pool', good_pair, bad_pair), p.pick('padding', good_padding, bad_padding)
    pad = canon(padding)
    strides = p.pick('strides', st.none() | good_pair, bad_pair)
    xs, x = p.array('x', (N, H, W, C), good_primary, bad_primary, rng)
    def geometry(xs):
        return (full(xs, 4) and is_pair(pool) and (strides is None or is_pair(strides)) and pad in ('valid', 'same')
                and (pad == 'same' or as_pair(pool)[0] <= xs[1] and as_pair(pool)[1] <= xs[2]))
    def out_shape(xs):
        if not geometry(xs): return (N, max(1, H // 2), max(1, W // 2), C)
        return (xs[0], *conv_output_shape(*xs[1:3], *as_pair(pool), as_pair(strides or pool), pad)[:2], xs[3])
    def check(out): assert out.shape == out_shape(xs) and out.dtype == x.dtype and np.isfinite(out).all()
    ok = floats(x) and geometry(xs)
    expect('avgpool2d_forward', ok, lambda: avgpool2d_forward(x, pool, strides, padding), check)
    x_shape = p.shape('x_shape', (N, H, W, C))
    ds, dout = p.array('dout', out_shape(x_shape), good_primary, bad_primary, rng)
    def check_b(dx):   # the adjoint identity <avgpool(x), dout> = <x, dx>, on an x of x_shape
        xf = rng.standard_normal(x_shape).astype(dout.dtype)
        yd = avgpool2d_forward(xf, pool, strides, padding) * dout
        close(np.sum(yd), np.sum(xf * dx), dout.dtype, scale=np.abs(yd).sum())
    ok_b = geometry(x_shape) and floats(dout) and ds == out_shape(x_shape)
    expect('avgpool2d_backward', ok_b, lambda: avgpool2d_backward(dout, x_shape, pool, strides, padding), check_b)
    size = p.pick('size', good_pair, bad_pair)
    sh, sw = as_pair(size)
    def check_up(up): np.testing.assert_array_equal(up, x.repeat(sh, 1).repeat(sw, 2))
    expect('upsample2d_forward', floats(x) and full(xs, 4) and is_pair(size), lambda: upsample2d_forward(x, size), check_up)
    us, du = p.array('du', (N, H * sh, W * sw, C), good_primary, bad_primary, rng)
    def check_ub(dx):
        close(dx, du.reshape(us[0], us[1] // sh, sh, us[2] // sw, sw, us[3]).sum((2, 4)), du.dtype, scale=sh * sw)
    ok_u = floats(du) and full(us, 4) and is_pair(size) and us[1] % sh == 0 and us[2] % sw == 0
    expect('upsample2d_backward', ok_u, lambda: upsample2d_backward(du, size), check_ub)

@fuzz
@given(st.data())
def batchnorm_functions(data):
    p, rng = Plan(data, 'x', 'x dtype', 'gamma', 'gamma dtype', 'beta', 'beta dtype', 'eps', 'dout', 'dout dtype',
                  'mu', 'mu dtype', 'inv', 'inv dtype', 'mean', 'mean dtype', 'var', 'var dtype', 'var sign'), \
        np.random.default_rng(4)
    F = p.draw(st.integers(1, 4))
    shape = tuple(p.draw(st.integers(1, 4)) for _ in range(p.draw(st.integers(1, 3)))) + (F,)
    xs, x = p.array('x', shape, good_primary, bad_primary, rng)
    gs, gamma = p.array('gamma', (F,), good_other, bad_other, rng)
    bs, beta = p.array('beta', (F,), good_other, bad_other, rng)
    eps = p.pick('eps', st.sampled_from([1e-3, 1e-5, 1]), st.sampled_from([0, -1.0, float('nan'), float('inf'), '1e-3', None]))
    ok_x = floats(x) and len(xs) >= 2 and 0 not in xs
    ok_eps = eps in (1e-3, 1e-5, 1)
    ok = ok_x and ok_eps and real(gamma) and real(beta) and gs == bs == xs[-1:]
    def check(res):
        ref = batchnorm_naive(x.astype(np.float64), gamma.astype(x.dtype), beta.astype(x.dtype), eps)[0]
        close(res[0], ref, x.dtype, scale=np.abs(ref).max() + 1)
    expect('batchnorm_forward', ok, lambda: batchnorm_forward(x, gamma, beta, eps), check)
    ms, mu = p.array('mu', (F,), good_other, bad_other, rng)
    ns, inv = p.array('inv', (F,), good_other, bad_other, rng)
    ds, dout = p.array('dout', shape, good_other, bad_other, rng)
    ok_b = ok_x and real(gamma) and real(mu) and real(inv) and real(dout) and ds == xs and gs == ms == ns == xs[-1:]
    def check_b(grads):
        assert [g.shape for g in grads] == [xs, gs, gs] and all(np.isfinite(g).all() for g in grads)
    expect('batchnorm_backward', ok_b, lambda: batchnorm_backward(dout, x, gamma, mu, inv), check_b)
    mms, mm = p.array('mean', (F,), good_other, bad_other, rng)
    mvs, mv = p.array('var', (F,), good_other, bad_other, rng)
    mv = np.abs(mv) * p.pick('var sign', st.just(1), st.just(-1)) if real(mv) else mv
    ok_i = (ok_x and ok_eps and real(gamma) and real(beta) and real(mm) and real(mv) and (mv >= 0).all()
            and gs == bs == mms == mvs == xs[-1:])
    def check_i(y):
        f64 = lambda a: a.astype(x.dtype).astype(np.float64) if a is gamma or a is beta else a.astype(np.float64)
        ref = (f64(x) - f64(mm)) / np.sqrt(f64(mv) + eps) * f64(gamma) + f64(beta)
        close(y, ref, x.dtype, scale=np.abs(ref).max() + 1)
    expect('batchnorm_inference', ok_i, lambda: batchnorm_inference(x, gamma, beta, mm, mv, eps), check_i)

PROPERTIES = {f.__name__: f for f in [conv_pair, conv_transpose_pair, maxpool_pair, avgpool_and_upsample_pairs,
                                       batchnorm_functions]}
CHECKS = {**{f"bad-{i}": (lambda b=b: bad_call(*b)) for i, b in enumerate(BAD)},
          **{name: (lambda f=f: f()) for name, f in PROPERTIES.items()}}

@pytest.fixture(scope='module')
def checks_run():
    "Run the table and the properties in one subprocess: a kernel that writes out of bounds kills it, not pytest."
    r = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=900)
    results = {}
    for line in r.stdout.splitlines():
        if line.startswith('{'): results.update(json.loads(line))
    return r, results

def _result(checks_run, name):
    r, results = checks_run
    if name not in results:
        running = [l for l in r.stderr.splitlines() if l.startswith('running ')]
        pytest.fail(f"the checking process died (exit code {r.returncode}; a negative code is the signal that killed it) "
                    f"while {running[-1] if running else 'starting'}, before {name} finished.\n{r.stderr[-3000:]}",
                    pytrace=False)
    if results[name] != 'ok': pytest.fail(results[name], pytrace=False)

@pytest.mark.parametrize('i', range(len(BAD)), ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_call_raises_naming_the_function(checks_run, i): _result(checks_run, f"bad-{i}")

@pytest.mark.parametrize('name', PROPERTIES)
def test_property(checks_run, name): _result(checks_run, name)

if __name__ == '__main__':
    for name in sys.argv[1:] or CHECKS:
        print(f"running {name}", file=sys.stderr, flush=True)
        try: result = CHECKS[name]() or 'ok'
        except Exception as e: result = ''.join(traceback.format_exception(e))
        print(json.dumps({name: result}), flush=True)
