"LeNet-5, the augmentation layers and the dl2-train command, on tiny data written here."
import json, os, subprocess, sys, numpy as np, pytest
from pathlib import Path
import dl2
from dl2.lenet import LeNet5, RandomFlip, RandomTranslation, main, cosine_schedule
from dl2.data import write_tiny_cifar10, write_tiny_mnist

def test_lenet5_architecture():
    m = LeNet5()
    assert m.count_params() == 62006 and m.output_shape == (None, 10)
    assert [type(l).__name__ for l in m.layers] == ['Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense', 'Dense']
    assert LeNet5((28, 28, 1), 5).output_shape == (None, 5)

@pytest.mark.parametrize('layer', [lambda: RandomFlip(seed=0), lambda: RandomTranslation(3, seed=0)])
def test_augmentation_is_identity_in_inference_and_its_backward_is_the_adjoint(layer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7, 9, 2)).astype(np.float32)
    l = layer()
    np.testing.assert_array_equal(l(x), x)
    y = l(x, training=True); d = rng.standard_normal(y.shape).astype(np.float32)
    assert np.isclose(np.sum(y * d), np.sum(x * l.backward(d)), rtol=1e-5)

def test_schedule():
    s = cosine_schedule(0.1, 5)
    assert s(0) == pytest.approx(0.1) and s(4) == pytest.approx(0.002) and s(1) > s(2) > s(3)

def _cli(*args, env=None):
    exe = Path(sys.executable).parent / 'dl2-train'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-m', 'dl2.lenet']
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)

def test_cli_trains_and_writes_its_files(tmp_path):
    write_tiny_cifar10(tmp_path / 'data', n=64)   # 320 training images, 64 test images
    r = _cli('--epochs', '2', '--batch-size', '32', '--val-size', '64', '--out', str(tmp_path / 'run'),
             '--data-dir', str(tmp_path / 'data'))
    assert r.returncode == 0, r.stderr
    assert 'validation accuracy' in r.stdout and 'test accuracy' in r.stdout and 'wall time' in r.stdout
    assert sorted(os.listdir(tmp_path / 'run')) == ['history.png', 'metrics.json', 'model.npz']
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert m['epochs'] == 2 and m['params'] == 62006 and len(m['history']['loss']) == 2
    assert (m['train_size'], m['val_size']) == (256, 64)
    assert 0 <= m['val_accuracy'] <= 1 and 0 <= m['test_accuracy'] <= 1
    assert m['val_accuracy'] == m['history']['val_accuracy'][-1] and len(m['history']['val_accuracy']) == 2
    assert dl2.load_model(tmp_path / 'run' / 'model.npz').count_params() == 62006

def test_validation_split_is_the_end_of_the_training_set_and_the_test_set_is_evaluated_once(tmp_path, monkeypatch):
    import dl2.lenet as lenet
    write_tiny_cifar10(tmp_path, n=20)   # 100 training images, 20 test images
    (x, _), (x_test, _) = lenet.load_dataset('cifar10', tmp_path)
    seen = {'fit': [], 'evaluate': []}
    fit, evaluate = dl2.Sequential.fit, dl2.Sequential.evaluate
    def spy_fit(self, x_, y_, **kw):
        seen['fit'].append((x_, kw['validation_data']))
        return fit(self, x_, y_, **kw)
    def spy_evaluate(self, x_, y_, **kw):
        seen['evaluate'].append(x_)
        return evaluate(self, x_, y_, **kw)
    monkeypatch.setattr(dl2.Sequential, 'fit', spy_fit)
    monkeypatch.setattr(dl2.Sequential, 'evaluate', spy_evaluate)
    m = lenet.train(epochs=1, val_size=30, out=tmp_path / 'run', data_dir=tmp_path, verbose=0)
    (x_fit, (x_val, _)), = seen['fit']
    np.testing.assert_array_equal(x_fit, x[:70])
    np.testing.assert_array_equal(x_val, x[70:])
    assert len(seen['evaluate']) == 1
    np.testing.assert_array_equal(seen['evaluate'][0], x_test)
    assert (m['train_size'], m['val_size']) == (70, 30)

def test_val_size_zero_trains_on_everything_without_validation(tmp_path):
    write_tiny_cifar10(tmp_path / 'data', n=20)
    r = _cli('--epochs', '1', '--val-size', '0', '--out', str(tmp_path / 'run'), '--data-dir', str(tmp_path / 'data'))
    assert r.returncode == 0, r.stderr
    assert 'no validation split' in r.stdout and 'test accuracy' in r.stdout
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert (m['train_size'], m['val_size'], m['val_accuracy'], m['val_loss']) == (100, 0, None, None)
    assert 'val_accuracy' not in m['history']

def test_val_size_larger_than_the_training_set(tmp_path):
    write_tiny_cifar10(tmp_path / 'data', n=20)
    r = _cli('--out', str(tmp_path / 'x'), '--data-dir', str(tmp_path / 'data'))   # the default 5000 > 100
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and 'val_size' in r.stderr and 'has 100' in r.stderr

def test_cli_on_mnist(tmp_path):
    write_tiny_mnist(tmp_path / 'data', n_train=40, n_test=10)
    r = _cli('--dataset', 'mnist', '--epochs', '1', '--no-augment', '--val-size', '10', '--out', str(tmp_path / 'run'),
             '--data-dir', str(tmp_path / 'data'))
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert (m['train_size'], m['val_size']) == (30, 10)

@pytest.mark.parametrize('args, needle', [
    (['--epochs', '0'], '--epochs must be at least 1'),
    (['--lr', '-1'], '--lr must be a positive finite number'),
    (['--lr', 'inf'], '--lr must be a positive finite number'),
    (['--lr', 'nan'], '--lr must be a positive finite number'),
    (['--dataset', 'imagenet'], "invalid choice: 'imagenet'"),
    (['--optimizer', 'lbfgs'], "invalid choice: 'lbfgs'"),
    (['--batch-size', 'many'], "invalid int value: 'many'"),
    (['--val-size', '-1'], '--val-size must be at least 0'),
])
def test_cli_bad_arguments(tmp_path, args, needle):
    r = _cli(*args, '--out', str(tmp_path / 'x'))
    assert r.returncode != 0 and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr

def test_cli_missing_data(tmp_path):
    r = _cli('--data-dir', str(tmp_path / 'empty'), '--out', str(tmp_path / 'x'), env={'DL2_CACHE': str(tmp_path / 'cache'), 'DL2_OFFLINE': '1'})
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and 'cifar-10-python.tar.gz' in r.stderr and str(tmp_path / 'empty') in r.stderr
