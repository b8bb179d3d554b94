"The dataset loaders, on tiny files written here (never the network), and on the real files when DL2_DATA has them."
import gzip, io, os, hashlib, stat, urllib.error, numpy as np, pytest
from pathlib import Path
import dl2.data as data
from dl2.data import (load_mnist, load_cifar10, write_tiny_mnist, write_tiny_cifar10, read_idx, write_idx, DatasetError,
                      to_categorical, batches)

@pytest.fixture(autouse=True)
def _no_network(monkeypatch, tmp_path):
    "Any attempt to reach the network fails, as it does offline; the cache folder is private to the test."
    def refuse(*a, **k): raise urllib.error.URLError('network disabled in tests')
    monkeypatch.setattr(data.urllib.request, 'urlopen', refuse)
    monkeypatch.setenv('DL2_CACHE', str(tmp_path / 'cache'))

def test_tiny_mnist_round_trip(tmp_path):
    arrays = write_tiny_mnist(tmp_path, 30, 12)
    (x, y), (xt, yt) = load_mnist(tmp_path)
    assert x.shape == (30, 28, 28) and xt.shape == (12, 28, 28) and x.dtype == y.dtype == np.uint8
    np.testing.assert_array_equal(x, arrays['train'][0]); np.testing.assert_array_equal(yt, arrays['t10k'][1])

def test_data_dir_from_environment(tmp_path, monkeypatch):
    write_tiny_mnist(tmp_path)
    monkeypatch.setenv('DL2_DATA', str(tmp_path))
    assert load_mnist()[0][0].shape == (20, 28, 28)

@pytest.mark.parametrize('archive', [False, True])
def test_tiny_cifar_round_trip(tmp_path, archive):
    arrays = write_tiny_cifar10(tmp_path, n=7, archive=archive)
    (x, y), (xt, yt) = load_cifar10(tmp_path)
    assert x.shape == (35, 32, 32, 3) and xt.shape == (7, 32, 32, 3) and y.dtype == np.uint8
    raw, labels = arrays['data_batch_2']
    np.testing.assert_array_equal(x[7:14], raw.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y[7:14], labels)

def test_archive_in_a_read_only_folder_is_extracted_to_the_cache(tmp_path):
    ro = tmp_path / 'ro'; write_tiny_cifar10(ro, n=3, archive=True)
    os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(ro, os.W_OK): pytest.skip('running as a user who can write anywhere (root)')
        assert load_cifar10(ro)[0][0].shape == (15, 32, 32, 3)
        assert (tmp_path / 'cache' / 'cifar-10-batches-py').is_dir() and not (ro / 'cifar-10-batches-py').exists()
    finally: os.chmod(ro, stat.S_IRWXU)

def test_files_present_are_only_read(tmp_path):
    write_tiny_mnist(tmp_path); write_tiny_cifar10(tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob('*'))
    load_mnist(tmp_path); load_cifar10(tmp_path)
    assert sorted(str(p) for p in tmp_path.rglob('*')) == before

def test_truncated_and_corrupt_files(tmp_path):
    write_tiny_mnist(tmp_path)
    f = tmp_path / 'mnist' / 'train-images-idx3-ubyte.gz'
    raw = gzip.open(f).read()
    with gzip.open(f, 'wb') as g: g.write(raw[:-100])
    with pytest.raises(DatasetError, match='truncated or corrupt'): load_mnist(tmp_path)
    f.write_bytes(b'not gzip at all')
    with pytest.raises(DatasetError, match='cannot be read as a gzip file'): load_mnist(tmp_path)
    with gzip.open(f, 'wb') as g: g.write(bytes([0, 0, 8, 1]) + raw[4:])
    with pytest.raises(DatasetError, match='bad IDX magic number'): load_mnist(tmp_path)
    write_tiny_mnist(tmp_path)
    write_idx(tmp_path / 'mnist' / 't10k-labels-idx1-ubyte.gz', np.full(10, 12, np.uint8))
    with pytest.raises(DatasetError, match='labels must be 0..9'): load_mnist(tmp_path)
    write_idx(tmp_path / 'mnist' / 't10k-labels-idx1-ubyte.gz', np.zeros(9, np.uint8))
    with pytest.raises(DatasetError, match='10 t10k images but 9 labels'): load_mnist(tmp_path)

def test_corrupt_cifar(tmp_path):
    write_tiny_cifar10(tmp_path)
    b = tmp_path / 'cifar-10-batches-py' / 'data_batch_3'
    b.write_bytes(b.read_bytes()[:200])
    with pytest.raises(DatasetError, match='data_batch_3: not a readable CIFAR-10 batch'): load_cifar10(tmp_path)
    import pickle
    b.write_bytes(pickle.dumps({b'data': np.zeros((4, 100), np.uint8), b'labels': [0] * 4}))
    with pytest.raises(DatasetError, match=r'expected uint8 \(N, 3072\)'): load_cifar10(tmp_path)
    b.write_bytes(pickle.dumps({b'pixels': 1}))
    with pytest.raises(DatasetError, match="keys b'data' and b'labels'"): load_cifar10(tmp_path)
    (tmp_path / 'cifar-10-batches-py' / 'test_batch').unlink(); write_tiny_cifar10(tmp_path)
    (tmp_path / 'cifar-10-batches-py' / 'test_batch').unlink()
    with pytest.raises(DatasetError, match='missing test_batch'): load_cifar10(tmp_path)

def test_offline_message_names_folder_files_and_source(tmp_path):
    with pytest.raises(DatasetError) as e: load_mnist(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / 'mnist') in msg and 'train-images-idx3-ubyte.gz' in msg and 't10k-labels-idx1-ubyte.gz' in msg and 'http' in msg
    with pytest.raises(DatasetError) as e: load_cifar10(tmp_path)
    assert 'cifar-10-python.tar.gz' in str(e.value) and str(tmp_path) in str(e.value)
    assert not any(p.name.endswith('.part') for p in tmp_path.rglob('*'))

class _Response(io.BytesIO):
    def __init__(self, payload): super().__init__(payload); self.headers = {'Content-Length': str(len(payload))}
    def __enter__(self): return self
    def __exit__(self, *a): self.close()

def test_download_checks_md5_and_writes_atomically(tmp_path, monkeypatch):
    payload = b'x' * 5000
    monkeypatch.setattr(data.urllib.request, 'urlopen', lambda url, timeout=None: _Response(payload))
    good = hashlib.md5(payload).hexdigest()
    p = data.download(['http://mirror/'], 'f.bin', tmp_path, good, progress=False)
    assert p.read_bytes() == payload
    with pytest.raises(DatasetError, match='does not match the published'): data.download(['http://mirror/'], 'g.bin', tmp_path, '0' * 32, progress=False)
    assert sorted(x.name for x in tmp_path.iterdir()) == ['f.bin']        # nothing half-written is left

def test_helpers():
    np.testing.assert_array_equal(to_categorical([1, 0], 3), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match='does not fit'): to_categorical([5], 3)
    x = np.arange(25); y = x * 2
    got = list(batches(x, y, 10, seed=3))
    assert [len(b) for b, _ in got] == [10, 10, 5] and all((yb == 2 * xb).all() for xb, yb in got)
    assert [b.tolist() for b, _ in got] == [b.tolist() for b, _ in batches(x, y, 10, seed=3)]
    assert sorted(np.concatenate([b for b, _ in got]).tolist()) == x.tolist()
    with pytest.raises(ValueError, match='same length'): next(batches(x, y[:-1]))

REAL = os.environ.get('DL2_DATA')
real = pytest.mark.skipif(not (REAL and (Path(REAL) / 'mnist').is_dir()), reason='DL2_DATA does not point at the real datasets')

@real
def test_real_mnist():
    (x, y), (xt, yt) = load_mnist(REAL)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4] and yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert abs(x.mean() - 33.318) < 1e-3

@real
def test_real_cifar10():
    (x, y), (xt, yt) = load_cifar10(REAL)
    assert x.shape == (50000, 32, 32, 3) and xt.shape == (10000, 32, 32, 3)
    assert np.bincount(y).tolist() == [5000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert np.bincount(y[:10000]).tolist() == [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    assert y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3] and yt[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert xt[0, 0, 0].tolist() == [158, 112, 49]
