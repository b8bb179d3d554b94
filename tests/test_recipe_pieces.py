"Pieces of the CIFAR-10 speed-run recipes: Lookahead, identity and patch-whitening kernels, flips, shifts, TTA."
import numpy as np, pytest
import dl2
from dl2.optim import SGD, Adam, deserialize, serialize

def test_exact_values_and_config():
    w = np.zeros(2)
    opt = SGD(0.5, params=[w], lookahead_steps=3, lookahead_alpha=0.25)
    for _ in range(3): opt.step([np.array([-2.0, 2.0])])  # fast: 0 -> 1 -> 2 -> 3 (and the negatives)
    assert np.array_equal(w, [0.75, -0.75])                # slow: 0 + 0.25 * (3 - 0)
    opt.step([np.array([-2.0, 2.0])])
    assert np.array_equal(w, [1.75, -1.75]) and np.array_equal(opt.slow[0], [0.75, -0.75])
    again = deserialize(serialize(opt))
    assert (again.lookahead_steps, again.lookahead_alpha) == (3, 0.25)

@pytest.mark.parametrize('bad', [dict(lookahead_steps=0), dict(lookahead_steps=1.5), dict(lookahead_steps=True),
                                 dict(lookahead_alpha=0.0), dict(lookahead_alpha=1.5), dict(lookahead_alpha=float('nan'))])
def test_bad_arguments_name_themselves(bad):
    with pytest.raises(ValueError, match=next(iter(bad))): Adam(**bad)

def test_fit_and_resume_bit_for_bit(tmp_path):
    from conftest import digits
    X, Y = digits()
    def model():
        dl2.set_seed(0)
        m = dl2.Sequential([dl2.Input((64,)), dl2.Dense(16, activation='relu'), dl2.Dense(10)])
        m.compile(Adam(0.01, lookahead_steps=5), dl2.SparseCategoricalCrossentropy(from_logits=True))
        return m
    a = model()
    hist = a.fit(X, Y, epochs=3, batch_size=64, shuffle=False, verbose=0).history
    assert hist['loss'][-1] < hist['loss'][0]
    b = model()
    b.fit(X, Y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    b.save(tmp_path / 'b.npz')
    c = dl2.load_model(tmp_path / 'b.npz')
    assert c.optimizer.lookahead_steps == 5 and len(c.optimizer.slow) == len(c.params)
    c.fit(X, Y, epochs=2, batch_size=64, shuffle=False, verbose=0)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), c.get_weights()))

@pytest.mark.parametrize('k', [1, 2, 3, 4, 5])
def test_identity_initializer_makes_a_same_convolution_the_identity(k):
    x = np.random.default_rng(k).standard_normal((2, 6, 7, 4)).astype(np.float32)
    conv = dl2.Conv2D(6, k, padding='same', kernel_initializer='identity', use_bias=False)
    y = conv(x)
    assert np.array_equal(y[..., :4], x) and not y[..., 4:].any()  # the two extra filters start at zero
    d = dl2.Dense(4, kernel_initializer='identity')
    assert np.array_equal(d(x[:, 0, 0]), x[:, 0, 0])

def test_patch_whitening_kernel_whitens():
    from dl2.conv import conv2d_forward
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((3, 3))
    x = (rng.standard_normal((40, 9, 10, 3)) @ mix + 0.3 * np.roll(rng.standard_normal((40, 9, 10, 3)), 1, 1))
    k = dl2.patch_whitening_kernel(x, size=2, eps=1e-6)
    assert k.shape == (2, 2, 3, 24) and np.array_equal(k[..., 12:], -k[..., :12])
    y = conv2d_forward(x, k[..., :12]).reshape(-1, 12)
    cov = np.cov(y, rowvar=False, bias=True)
    assert np.allclose(cov, np.diag(np.diag(cov)), atol=1e-10) and np.allclose(np.diag(cov), 1, atol=1e-3)
    assert np.allclose(dl2.patch_whitening_kernel(x, chunk=7), dl2.patch_whitening_kernel(x), atol=1e-8)
    with pytest.raises(ValueError, match="larger than the images"): dl2.patch_whitening_kernel(x[:, :1], size=2)

def test_alternating_flip_reflect_translate_and_tta():
    rng = np.random.default_rng(0)
    x = rng.random((20, 6, 7, 3)).astype(np.float32)
    a, b = dl2.alternating_flip(x, 4, seed=3), dl2.alternating_flip(x, 5, seed=3)
    for i in range(20):  # every image flipped in exactly one of two consecutive epochs
        fa, fb = not np.array_equal(a[i], x[i]), not np.array_equal(b[i], x[i])
        assert fa != fb and np.array_equal(a[i] if fa else b[i], x[i, :, ::-1])
    t = dl2.reflect_translate(x, 2, np.random.default_rng(1))
    p = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode='reflect')
    assert all(any(np.array_equal(t[i], p[i, u:u + 6, v:v + 7]) for u in range(5) for v in range(5)) for i in range(20))
    with pytest.raises(ValueError, match="max_shift"): dl2.reflect_translate(x, 6)
    dl2.set_seed(0)
    m = dl2.Sequential([dl2.Input((6, 7, 3)), dl2.Flatten(), dl2.Dense(4)])
    mirror = lambda v: 0.5 * (m.predict(v) + m.predict(v[:, :, ::-1]))
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode='reflect')
    want = 0.5 * mirror(x) + 0.25 * (mirror(pad[:, :6, :7]) + mirror(pad[:, 2:, 2:]))
    assert np.allclose(dl2.tta_predict(m, x, 2), want, atol=1e-6)
    assert np.array_equal(dl2.tta_predict(m, x, 0), m.predict(x))
    with pytest.raises(ValueError, match="level"): dl2.tta_predict(m, x, 3)
