"The dataset loaders, on tiny files written here (never the network), and on the real files when DL2_DATA has them."
import gzip, io, os, hashlib, pickle, re, stat, tarfile, tempfile, urllib.error, numpy as np, pytest
from hypothesis import HealthCheck, given, settings, strategies as st
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
    with pytest.raises(DatasetError, match='data_batch_3: cannot be read as a CIFAR-10 batch'): load_cifar10(tmp_path)
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

# ---- one error type for the whole domain: every problem with a dataset file is a DatasetError naming the file

def _gz(data): return gzip.compress(data, mtime=0)

def _flip(data, pos, mask=0x01):
    b = bytearray(data); b[pos] ^= mask
    return bytes(b)

def _mnist_case(name):
    "How to damage train-images (or train-labels): (file, new bytes from (compressed, raw), text of the message)."
    img, lab = 'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'
    return {'header cut': (img, lambda z, raw: _gz(raw[:10]), 'shorter than its 16-byte header'),
            'labels header cut': (lab, lambda z, raw: _gz(raw[:5]), 'shorter than its 8-byte header'),
            'empty stream': (img, lambda z, raw: _gz(b''), '0 bytes, shorter than its 16-byte header'),
            'empty file': (img, lambda z, raw: b'', '0 bytes, shorter than its 16-byte header'),
            'data cut': (img, lambda z, raw: _gz(raw[:-1]), 'its header promises 15680 (truncated or corrupt file)'),
            'data too long': (lab, lambda z, raw: _gz(raw + b'\0'), 'holds 21 bytes of data, its header promises 20'),
            'gzip cut': (img, lambda z, raw: z[:len(z) // 2], 'cannot be read as a gzip file (EOFError'),
            'gzip trailer cut': (img, lambda z, raw: z[:-3], 'cannot be read as a gzip file (EOFError'),
            'flip in the stream': (img, lambda z, raw: _flip(z, len(z) // 2), 'cannot be read as a gzip file'),
            'flip in the CRC': (img, lambda z, raw: _flip(z, len(z) - 6), 'CRC check failed'),
            'flip in the length': (lab, lambda z, raw: _flip(z, len(z) - 2), 'Incorrect length of data produced'),
            'wrong magic': (img, lambda z, raw: _gz(bytes([0, 0, 8, 1]) + raw[4:]), 'bad IDX magic number 00000801'),
            'wrong dtype': (lab, lambda z, raw: _gz(bytes([0, 0, 0x0d, 1]) + raw[4:]), 'bad IDX magic number 00000d01'),
            'garbage': (img, lambda z, raw: b'not gzip at all', 'cannot be read as a gzip file (BadGzipFile'),
            'trailing garbage': (lab, lambda z, raw: z + b'junk', 'cannot be read as a gzip file (BadGzipFile'),
            }[name]

@pytest.mark.parametrize('case', ['header cut', 'labels header cut', 'empty stream', 'empty file', 'data cut',
                                  'data too long', 'gzip cut', 'gzip trailer cut', 'flip in the stream', 'flip in the CRC',
                                  'flip in the length', 'wrong magic', 'wrong dtype', 'garbage', 'trailing garbage'])
def test_damaged_mnist_raises_dataset_error_naming_the_file(tmp_path, case):
    write_tiny_mnist(tmp_path)
    fname, damage, text = _mnist_case(case)
    f = tmp_path / 'mnist' / fname
    z = f.read_bytes()
    f.write_bytes(damage(z, gzip.decompress(z)))
    with pytest.raises(DatasetError) as e: load_mnist(tmp_path)
    assert str(f) in str(e.value) and text in str(e.value), str(e.value)

def test_every_byte_flip_of_an_mnist_file_is_caught_or_harmless(tmp_path):
    "A flip in the gzip header's name, time or flags changes no data; anywhere else the CRC (or zlib) refuses it."
    arrays = write_tiny_mnist(tmp_path, 10, 10)
    f = tmp_path / 'mnist' / 't10k-labels-idx1-ubyte.gz'
    z = f.read_bytes()
    outcomes = set()
    for pos in range(len(z)):
        for mask in (0x01, 0x80):
            f.write_bytes(_flip(z, pos, mask))
            try: (_, _), (_, yt) = load_mnist(tmp_path)
            except DatasetError as e:
                assert str(f) in str(e)
                outcomes.add('refused')
                continue
            np.testing.assert_array_equal(yt, arrays['t10k'][1])
            outcomes.add('unchanged')
    assert outcomes == {'refused', 'unchanged'}

@pytest.mark.parametrize('which', ['mnist file', 'cifar batch', 'cifar archive'])
def test_a_directory_instead_of_a_file(tmp_path, which):
    if which == 'mnist file':
        write_tiny_mnist(tmp_path)
        f = tmp_path / 'mnist' / 't10k-images-idx3-ubyte.gz'
        load = load_mnist
    elif which == 'cifar batch':
        write_tiny_cifar10(tmp_path)
        f = tmp_path / 'cifar-10-batches-py' / 'data_batch_4'
        load = load_cifar10
    else:
        f, load = tmp_path / 'cifar-10-python.tar.gz', load_cifar10
    if f.exists(): f.unlink()
    f.mkdir()
    with pytest.raises(DatasetError, match=f"{re.escape(str(f))}: is a directory, not a"): load(tmp_path)

def test_readers_name_a_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=f"{re.escape(str(tmp_path / 'x.gz'))}: no such file"): read_idx(tmp_path / 'x.gz', 1)
    with pytest.raises(DatasetError, match='data_batch_9: no such file'): data.read_cifar_batch(tmp_path / 'data_batch_9')

def _cifar_arrays(arrays):
    x = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    y = np.concatenate([arrays[f"data_batch_{i}"][1] for i in range(1, 6)])
    return x, y

def test_archive_byte_flips_are_refused_not_extracted(tmp_path):
    "The old loader extracted an archive with a flipped byte as different pixels: tarfile never reads the gzip CRC."
    arrays = write_tiny_cifar10(tmp_path / 'src', n=2, archive=True)
    z = (tmp_path / 'src' / 'cifar-10-python.tar.gz').read_bytes()
    x0, y0 = _cifar_arrays(arrays)
    refused = 0
    for k, pos in enumerate(range(10, len(z), max(1, len(z) // 60))):
        d = tmp_path / f"d{k}"; d.mkdir()
        (d / 'cifar-10-python.tar.gz').write_bytes(_flip(z, pos))
        try: (x, y), _ = load_cifar10(d)
        except DatasetError as e:
            assert str(d / 'cifar-10-python.tar.gz') in str(e) and not (d / 'cifar-10-batches-py').exists()
            refused += 1
            continue
        np.testing.assert_array_equal(x, x0); np.testing.assert_array_equal(y, y0)
    assert refused >= 50

@pytest.mark.parametrize('case, text', [
    ('cut', 'cannot be read as a tar.gz archive (EOFError'), ('garbage', 'cannot be read as a tar.gz archive (BadGzipFile'),
    ('not a tar', 'cannot be read as a tar.gz archive (ReadError'), ('no folder', 'holds no cifar-10-batches-py/ folder'),
    ('tar cut', 'cannot be read as a tar.gz archive')])
def test_damaged_cifar_archive(tmp_path, case, text):
    write_tiny_cifar10(tmp_path, n=2, archive=True)
    a = tmp_path / 'cifar-10-python.tar.gz'
    z = a.read_bytes()
    if case == 'cut': a.write_bytes(z[:len(z) // 2])
    elif case == 'garbage': a.write_bytes(b'\x00' * 1000 + b'garbage')
    elif case == 'not a tar': a.write_bytes(_gz(b'just some bytes, not a tar file' * 100))
    elif case == 'tar cut': a.write_bytes(_gz(gzip.decompress(z)[:1500]))
    else:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w') as t:
            info = tarfile.TarInfo('other/readme.txt'); info.size = 2
            t.addfile(info, io.BytesIO(b'hi'))
        a.write_bytes(_gz(buf.getvalue()))
    with pytest.raises(DatasetError) as e: load_cifar10(tmp_path)
    assert str(a) in str(e.value) and text in str(e.value), str(e.value)
    assert not (tmp_path / 'cifar-10-batches-py').exists() and not list(tmp_path.glob('.extract-*'))

def test_an_archive_of_the_canonical_size_must_have_the_canonical_md5(tmp_path, monkeypatch):
    arrays = write_tiny_cifar10(tmp_path, n=2, archive=True)
    a = tmp_path / 'cifar-10-python.tar.gz'
    monkeypatch.setattr(data, 'CIFAR_SIZE', a.stat().st_size)       # pretend the tiny archive has the canonical size
    with pytest.raises(DatasetError, match=f"{re.escape(str(a))}: has the canonical size but md5 "
                                           f"{hashlib.md5(a.read_bytes()).hexdigest()}, not c58f30108f718f92721af3b95e74349a"):
        load_cifar10(tmp_path)
    monkeypatch.setattr(data, 'CIFAR_MD5', hashlib.md5(a.read_bytes()).hexdigest())
    (x, y), _ = load_cifar10(tmp_path)
    np.testing.assert_array_equal(x, _cifar_arrays(arrays)[0])

class _RunsCode:
    def __init__(self, path): self.path = path
    def __reduce__(self): return (os.makedirs, (str(self.path),))

@pytest.mark.parametrize('case, text', [
    ('truncated', 'cannot be read as a CIFAR-10 batch (EOFError: Ran out of input)'),
    ('garbage', 'cannot be read as a CIFAR-10 batch'),
    ('empty', 'cannot be read as a CIFAR-10 batch (EOFError'),
    ('not a dict', "expected a dict with keys b'data' and b'labels', found list"),
    ('mixed keys', "expected a dict with keys b'data' and b'labels', found ['1', \"b'x'\"]"),
    ('float labels', 'labels float64 (2,), expected uint8 (N, 3072) with N integer labels'),
    ('2-D labels', 'labels int64 (2, 1), expected'),
    ('bool labels', 'labels bool (2,), expected'),
    ('ragged labels', 'cannot be read as a CIFAR-10 batch (ValueError'),
    ('int data', 'data int64 (2, 3072)'),
    ('short rows', 'data uint8 (2, 3000)'),
    ('label 10', 'labels must be 0..9, found 0..10'),
    ('runs code', 'UnpicklingError: a CIFAR-10 batch names no os.makedirs'),
    ('a path', 'UnpicklingError: a CIFAR-10 batch names no pathlib.PosixPath')])
def test_damaged_cifar_batch(tmp_path, case, text):
    write_tiny_cifar10(tmp_path, n=2)
    b = tmp_path / 'cifar-10-batches-py' / 'data_batch_2'
    x = np.zeros((2, 3072), np.uint8)
    sentinel = tmp_path / 'code_ran'
    payload = {'truncated': b.read_bytes()[:-10], 'garbage': bytes(range(256)) * 4, 'empty': b'',
               'not a dict': pickle.dumps([1, 2]), 'mixed keys': pickle.dumps({1: 2, b'x': 3}),
               'float labels': pickle.dumps({b'data': x, b'labels': [0.5, 1.0]}),
               '2-D labels': pickle.dumps({b'data': x, b'labels': [[0], [1]]}),
               'bool labels': pickle.dumps({b'data': x, b'labels': [True, False]}),
               'ragged labels': pickle.dumps({b'data': x, b'labels': [[0], [1, 2]]}),
               'int data': pickle.dumps({b'data': x.astype(np.int64), b'labels': [0, 1]}),
               'short rows': pickle.dumps({b'data': x[:, :3000], b'labels': [0, 1]}),
               'label 10': pickle.dumps({b'data': x, b'labels': [0, 10]}),
               'runs code': pickle.dumps({b'data': _RunsCode(sentinel), b'labels': [0, 1]}, protocol=2),
               'a path': pickle.dumps({b'data': Path('x'), b'labels': [0, 1]})}[case]
    b.write_bytes(payload)
    with pytest.raises(DatasetError) as e: load_cifar10(tmp_path)
    assert str(b) in str(e.value) and text in str(e.value), str(e.value)
    assert not sentinel.exists()

def test_the_canonical_pickles_globals_are_allowed(tmp_path):
    "Python 2's cPickle of an array names numpy.core.multiarray._reconstruct; NumPy 2 writes numpy._core."
    b = tmp_path / 'b'
    x = np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072)
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        raw = pickle.dumps({b'data': x, b'labels': np.array([1, 2], np.int64), b'extra': np.int64(3)}, protocol=2)
        raw = raw.replace(b'numpy._core.multiarray', module.encode()).replace(b'numpy.core.multiarray', module.encode())
        b.write_bytes(raw)
        xi, yi = data.read_cifar_batch(b)
        assert yi.tolist() == [1, 2] and xi[0, 0, 0].tolist() == [0, 0, 0] and xi[1, 0, 1].tolist() == [1, 1, 1]

# ---- property: damaged files load unchanged (checksummed) or as arrays of the right form (pickles), else DatasetError

DAMAGE = st.tuples(st.sampled_from(['flip', 'cut', 'garbage', 'insert', 'append']), st.floats(0, 1), st.integers(1, 255),
                   st.binary(min_size=1, max_size=40))

def _damage(raw, op, where, mask, junk):
    k = min(int(where * len(raw)), len(raw) - 1)
    return {'flip': lambda: _flip(raw, k, mask), 'cut': lambda: raw[:k], 'garbage': lambda: junk,
            'insert': lambda: raw[:k] + junk + raw[k:], 'append': lambda: raw + junk}[op]()

@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 'cifar-10-python.tar.gz',
                        'data_batch_1', 'test_batch']), DAMAGE)
def test_any_damage_loads_right_or_raises_dataset_error(target, damage):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if target.endswith('ubyte.gz'):
            arrays = write_tiny_mnist(d, 10, 5)
            f, load = d / 'mnist' / target, load_mnist
        else:
            arrays = write_tiny_cifar10(d, n=2, archive=target.endswith('.tar.gz'))
            f = d / (target if target.endswith('.tar.gz') else f"cifar-10-batches-py/{target}")
            load = load_cifar10
        f.write_bytes(_damage(f.read_bytes(), *damage))
        try: (x, y), (xt, yt) = load(d)
        except DatasetError as e:
            assert str(f) in str(e)
            return
        if load is load_mnist or target.endswith('.tar.gz'):        # gzip CRC: what loads is the original data
            expected = (arrays['train'], arrays['t10k']) if load is load_mnist else (_cifar_arrays(arrays), None)
            np.testing.assert_array_equal(x, expected[0][0]); np.testing.assert_array_equal(y, expected[0][1])
        else:                                                       # a pickle has no checksum: its form is checked
            for a, b, shape in ((x, y, (32, 32, 3)), (xt, yt, (32, 32, 3))):
                assert a.dtype == b.dtype == np.uint8 and a.shape[1:] == shape and len(a) == len(b) and (b <= 9).all()
