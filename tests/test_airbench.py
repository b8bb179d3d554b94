"The capstone's recipe (dl2.airbench): a few real steps on tiny data, the command, and the pieces' checks."
import json
import numpy as np
import pytest
import dl2
from dl2.airbench import (HYP, dirac_first, sgd_arguments, airbench_optimizer, LookaheadSchedule, train_airbench,
                          evaluate_airbench, channel_stats, standardize, main)
from dl2.data import write_tiny_cifar10

def tiny(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)
    x[y < 5, :16] //= 4   # something to learn
    return x, y

def test_recipe_trains_a_few_steps_and_the_loss_falls():
    x, y = tiny()
    run = train_airbench(x, y, epochs=6, batch_size=64, widths=(8, 16, 16), verbose=0)
    assert run.steps == 24
    assert run.history['loss'][-1] < run.history['loss'][0] - 0.05
    assert not run.model.layers[0].trainable                      # the whitening layer stayed frozen
    np.testing.assert_array_equal(run.model.optimizer.params[0], run.model.optimizer.slow[0])  # slow weights used
    bn = next(l for l in run.model.layers if isinstance(l, dl2.BatchNormalization))
    assert bn.moving_mean.any()                                   # trained statistics, averaged like the weights
    acc, _ = evaluate_airbench(run, x, y, tta_level=1)
    assert 0 <= acc <= 1

def test_whitening_layer_is_frozen_and_whitens():
    x, y = tiny(128)
    run = train_airbench(x, y, epochs=1, batch_size=64, widths=(8, 8, 8), verbose=0)
    w = run.model.layers[0].get_weights()[0]
    k = dl2.patch_whitening_kernel(standardize(x, run.mean, run.std), 2, HYP['whiten_eps'])
    np.testing.assert_allclose(w, k.astype(np.float32), rtol=1e-6)

def test_fractional_epochs_and_errors():
    x, y = tiny(128)
    assert train_airbench(x, y, epochs=1.5, batch_size=64, widths=(4, 4, 4), verbose=0).steps == 3
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['lr_max'\]"): train_airbench(x, y, lr_max=1)
    with pytest.raises(ValueError, match="fewer than one batch"): train_airbench(x[:10], y[:10])
    with pytest.raises(ValueError, match=r"expected images \(N, 32, 32, 3\)"): train_airbench(x[:, :28], y)

def test_dirac_first():
    k = dirac_first(np.random.default_rng(0).standard_normal((3, 3, 4, 6)))
    np.testing.assert_array_equal(k[..., :4], dl2.core.identity((3, 3, 4, 4)))
    assert np.abs(k[..., 4:]).min() > 0            # the other filters are untouched

def test_lookahead_schedule_values():
    cb = LookaheadSchedule(200)
    assert cb.alpha(1) == pytest.approx(1 - 0.95 ** 5 * (1 / 200) ** 3, abs=1e-15)
    assert cb.alpha(400) == pytest.approx(1 - 0.95 ** 5)       # capped at the end of the schedule

def test_lookahead_averages_batchnorm_statistics():
    m = dl2.Sequential([dl2.Input((3,)), dl2.Dense(2), dl2.BatchNormalization(momentum=0.6)])
    m.compile(dl2.SGD(0.1, lookahead_steps=5), 'mse')
    cb, bn = LookaheadSchedule(10), m.layers[-1]
    cb.set_model(m)
    cb.on_train_begin()
    bn.moving_mean[:], bn.moving_variance[:] = [1., 2.], [3., 5.]
    m.optimizer.iterations, m.optimizer.lookahead_alpha = 5, 0.25
    cb.on_train_batch_end(4)
    np.testing.assert_array_equal(bn.moving_mean, [0.25, 0.5])
    np.testing.assert_array_equal(bn.moving_variance, [1.5, 2.0])
    m.optimizer.iterations = 6
    bn.moving_mean[:] = 7.
    cb.on_train_batch_end(5)                                      # not a sync step
    np.testing.assert_array_equal(bn.moving_mean, [7., 7.])
    cb.use_slow_statistics()
    np.testing.assert_array_equal(bn.moving_mean, [0.25, 0.5])

def test_pytorch_twin_follows_dl2():
    torch = pytest.importorskip('torch')
    from dl2.airbench import torch_airbench, torch_airbench_net, airbench_model, _TorchPredictor
    torch.set_num_threads(2)
    m = airbench_model((8, 8, 8), seed=2)
    v = np.random.default_rng(1).standard_normal((8, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(_TorchPredictor(torch_airbench_net(m)).predict(v), m.predict(v, verbose=0), atol=1e-6)
    x, y = tiny(128)
    kw = dict(epochs=2, batch_size=64, widths=(8, 8, 8), verbose=0)
    d, t = train_airbench(x, y, **kw), torch_airbench(x, y, **kw)
    np.testing.assert_allclose(d.history['loss'], t.history['loss'], atol=1e-4)
    assert 0 <= evaluate_airbench(t, x, y, tta_level=2)[0] <= 1

def test_hyperparameter_conversion_against_pytorch_groups():
    torch = pytest.importorskip('torch')
    hyp, B, T = dict(HYP, batch_size=16), 16, 20
    rng = np.random.default_rng(3)
    kernel, bias = rng.standard_normal((2, 5)), rng.standard_normal(5)
    tk, tb = torch.tensor(kernel.copy()), torch.tensor(bias.copy())
    kappa = 1024 * (1 + 1 / (1 - hyp['momentum']))
    lr_t, wd_t = hyp['lr'] / kappa, hyp['weight_decay'] * B / kappa
    topt = torch.optim.SGD([dict(params=[tb], lr=lr_t * 64, weight_decay=wd_t / (lr_t * 64)),
                            dict(params=[tk], lr=lr_t, weight_decay=wd_t / lr_t)], momentum=0.85, nesterov=True)
    a = sgd_arguments(hyp)
    dopt = dl2.SGD(a['learning_rate'], momentum=0.85, nesterov=True, weight_decay=a['weight_decay'],
                   bias_scaler=64.0, params=[kernel, bias])
    for _ in range(T):
        gk, gb = rng.standard_normal((B, 2, 5)), rng.standard_normal((B, 5))
        tk.grad, tb.grad = torch.tensor(gk.sum(0)), torch.tensor(gb.sum(0))
        topt.step()
        dopt.step([gk.mean(0), gb.mean(0)])
    np.testing.assert_allclose(kernel, tk.numpy(), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(bias, tb.numpy(), rtol=1e-11, atol=1e-13)

def test_schedule_shape():
    opt = airbench_optimizer(1000)
    lr = sgd_arguments()['learning_rate']
    np.testing.assert_allclose(opt._learning_rate(np.array([0, 230, 1000])), np.array([0.2, 1, 0.07]) * lr)
    short = airbench_optimizer(3)   # int(3 * 0.23) = 0 warm-up steps: the decay alone
    np.testing.assert_allclose(short._learning_rate(np.array([0, 3])), np.array([1, 0.07]) * lr)

def test_channel_stats_in_chunks():
    x, _ = tiny(12000)   # more than one chunk of 5,000
    mean, std = channel_stats(x)
    ref = x.reshape(-1, 3).astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-10)   # sums in another order
    np.testing.assert_allclose(std, ref.std(0), rtol=1e-8)

def test_command_writes_what_dl2_train_writes(tmp_path, capsys):
    write_tiny_cifar10(tmp_path / 'data', n=64)
    assert main(['--data-dir', str(tmp_path / 'data'), '--out', str(tmp_path / 'run'), '--epochs', '1',
                 '--batch-size', '64', '--quiet', '--tta-level', '1']) == 0
    assert sorted(p.name for p in (tmp_path / 'run').iterdir()) == ['history.png', 'metrics.json', 'model.npz']
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert m['steps'] == 5 and m['tta_level'] == 1 and 0 <= m['test_accuracy'] <= 1
    assert 'test accuracy' in capsys.readouterr().out
    back = dl2.load_model(tmp_path / 'run' / 'model.npz')
    assert back.optimizer.bias_scaler == 64.0 and back.optimizer.lookahead_steps == 5

@pytest.mark.parametrize('args, needle', [(['--epochs', '0'], '--epochs must be a positive number'),
                                          (['--batch-size', '0'], '--batch-size must be at least 1'),
                                          (['--tta-level', '3'], 'invalid choice')])
def test_command_bad_arguments(args, needle, capsys):
    with pytest.raises(SystemExit) as e: main(args)
    assert e.value.code == 2 and needle in capsys.readouterr().err
