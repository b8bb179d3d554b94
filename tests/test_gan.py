"The GAN: hand-passed gradients, the training step's contract, the classifier score, bad input."
import numpy as np, pytest
import dl2
from dl2.gan import GAN, SampleGrid, classifier_score, dcgan_mnist

def tiny(seed=0, dtype='float32'):
    with dl2.using_floatx(dtype):
        dl2.set_seed(seed)
        G = dl2.Sequential([dl2.Input((3,)), dl2.Dense(8, activation='tanh'), dl2.Dense(6, activation='tanh')])
        D = dl2.Sequential([dl2.Input((6,)), dl2.Dense(8), dl2.LeakyReLU(0.2), dl2.Dense(1)])
    return GAN(G, D, 3, seed=seed).compile(dl2.Adam(learning_rate=1e-2), dl2.Adam(learning_rate=1e-2))

def test_hand_passed_generator_gradient_matches_finite_differences():
    gan = tiny(dtype='float64'); G, D = gan.generator, gan.discriminator
    z = np.random.default_rng(5).standard_normal((9, 3)); ones = np.ones((9, 1))
    bce = dl2.BinaryCrossentropy(from_logits=True)
    def backward(d):
        G.backward(D.backward(d * bce.gradient(ones, D(G(z, training=True), training=True))))
        return G.grads
    dl2.grad_check(lambda: np.array(bce(ones, D(G(z, training=True), training=True))), backward, G.params)

def test_train_step_moves_the_generator_not_the_discriminator_in_its_step():
    gan = tiny(1); G, D = gan.generator, gan.discriminator
    d0, g0 = D.get_weights(), G.get_weights()
    logit = D(G(gan.noise(8), training=True), training=True)
    G.backward(D.backward(gan.loss.grad(np.ones((8, 1), np.float32), logit)), need_dx=False)
    gan.g_optimizer.step(G.grads)
    assert all(np.array_equal(a, b) for a, b in zip(d0, D.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(g0, G.get_weights()))

def test_losses_move_the_right_way():
    gan = tiny(2)
    real = np.tile(np.linspace(-0.9, 0.9, 6, dtype=np.float32), (32, 1))
    before = np.abs(gan.sample(64) - real[0]).mean()
    first = gan.train_step(real)
    logs = [gan.train_step(real) for _ in range(50)]
    assert min(l['d_loss'] for l in logs[:10]) < first['d_loss']          # the discriminator learns to separate first
    assert np.abs(gan.sample(64) - real[0]).mean() < 0.75 * before        # then the samples move towards the data

def test_fit_history_and_sample_grid():
    gan = tiny(3); z = gan.noise(5); grid = SampleGrid(z)
    real = np.tile(np.linspace(-0.5, 0.5, 6, dtype=np.float32), (70, 1))
    h = gan.fit(real, epochs=3, batch_size=32, callbacks=[grid], verbose=0)
    assert sorted(h.history) == ['d_fake', 'd_loss', 'd_real', 'g_loss'] and len(h.epoch) == 3
    assert len(grid.grids) == 3 and grid.grids[0].shape == (5, 6)
    np.testing.assert_array_equal(gan.sample(z=z), grid.grids[-1])

def test_dcgan_shapes():
    gan = dcgan_mnist(seed=0)
    assert gan.generator.output_shape == (None, 28, 28, 1) and gan.discriminator.output_shape == (None, 1)
    logs = gan.train_step(np.zeros((8, 28, 28, 1), np.float32))
    assert all(np.isfinite(v) for v in logs.values())

def test_classifier_score():
    assert classifier_score(np.eye(10)[np.arange(1000) % 10])[0] == pytest.approx(10)
    assert classifier_score(np.eye(10)[np.zeros(100, int)])[0] == pytest.approx(1)      # confident but one class only
    assert classifier_score(np.full((10, 10), 0.1)) == pytest.approx((1, 0.1))

def test_bad_input():
    gan = tiny()
    with pytest.raises(ValueError, match=r'images of shape \(7,\)'): gan.fit(np.zeros((64, 7)), verbose=0)
    with pytest.raises(ValueError, match='fewer than one batch'): gan.fit(np.zeros((10, 6)), batch_size=32, verbose=0)
    with pytest.raises(ValueError, match='one logit'): GAN(gan.generator, dl2.Sequential([dl2.Input((6,)), dl2.Dense(2)]), 3).compile()
    with pytest.raises(ValueError, match=r'makes \(6,\) images'): GAN(gan.generator, dl2.Sequential([dl2.Input((5,)), dl2.Dense(1)]), 3).compile()
    with pytest.raises(ValueError, match='call compile'): GAN(gan.generator, gan.discriminator, 3).train_step(np.zeros((4, 6)))

def test_generator_ema_is_copied_in_when_fit_ends():
    "With use_ema on the generator's optimizer, fit leaves the generator at its averaged weights, the discriminator as trained."
    gan = tiny(4)
    gan.compile(dl2.Adam(learning_rate=1e-2, use_ema=True, ema_momentum=0.9), dl2.Adam(learning_rate=1e-2))
    real = np.tile(np.linspace(-0.5, 0.5, 6, dtype=np.float32), (64, 1))
    live = []
    class Keep(dl2.Callback):
        def on_epoch_end(self, epoch, logs=None): live.append([p.copy() for p in gan.generator.params] + [p.copy() for p in gan.discriminator.params])
    gan.fit(real, epochs=2, batch_size=16, callbacks=[Keep()], verbose=0)
    n = len(gan.generator.params)
    for p, a, l in zip(gan.generator.params, gan.g_optimizer.averages, live[-1][:n]):
        np.testing.assert_array_equal(p, a); assert not np.array_equal(p, l)
    for p, l in zip(gan.discriminator.params, live[-1][n:]): np.testing.assert_array_equal(p, l)

def test_reuse_fakes_trains_the_generator_on_the_discriminator_steps_batch():
    a, b = tiny(6, 'float64'), tiny(6, 'float64'); a.reuse_fakes = True
    real = np.tile(np.linspace(-0.5, 0.5, 6), (8, 1))
    drawn = []; noise = a.noise
    a.noise = lambda n: drawn.append(n) or noise(n)
    a.train_step(real)
    assert drawn == [8]                                      # one noise batch per step, not two
    # the same step by hand on the twin: the discriminator step, then the generator step on the same fakes
    G, D, bce, ones, zeros = b.generator, b.discriminator, b.loss, np.ones((8, 1)), np.zeros((8, 1))
    z = b.noise(8)
    D.backward(bce.grad(ones, D(real, training=True)), need_dx=False); g_real = [g.copy() for g in D.grads]
    D.backward(bce.grad(zeros, D(G(z, training=True), training=True)), need_dx=False)
    b.d_optimizer.step([x + y for x, y in zip(g_real, D.grads)])
    G.backward(D.backward(bce.grad(ones, D(G(z, training=True), training=True))), need_dx=False)
    b.g_optimizer.step(G.grads)
    for x, y in zip(a.generator.get_weights() + a.discriminator.get_weights(), b.generator.get_weights() + b.discriminator.get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
