"LoadWatch: one Numba thread while other processes keep the cores busy, the user's threads back otherwise."
import numba, pytest
import dl2.core as core

@pytest.fixture
def two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2: pytest.skip("needs two Numba threads")
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    yield
    numba.set_num_threads(old)
    core.LoadWatch.recent['until'] = 0.0

def test_back_to_all_threads_when_the_others_stop(two_threads, monkeypatch):
    samples = iter([(0.0, 0.0, 0.0), (1.0, 1.5, 0.5), (2.0, 2.6, 1.5), (3.0, 6.5, 2.5)])
    monkeypatch.setattr(core, '_cpu_times', lambda: next(samples))
    w = core.LoadWatch(interval=0, first=0)
    w.cores = 2  # the rule on a two-core machine, whatever this one has
    w.check()
    assert numba.get_num_threads() == 1
    w.check()  # others: (1.1 - 1.0) / 1 s = 0.1 core
    assert numba.get_num_threads() == 2
    w.check()  # (3.9 - 1.0) / 1 s = 2.9 cores: one thread again
    assert numba.get_num_threads() == 1 and core.LoadWatch.recent['until'] > 0  # the next watch starts on one
    w.close()
    assert numba.get_num_threads() == 2  # the user's setting, restored

def test_nothing_off_linux_or_on_one_thread(monkeypatch):
    monkeypatch.setattr(core, '_cpu_times', lambda: None)
    old = numba.get_num_threads()
    with core.LoadWatch(interval=0, first=0) as w:
        w.check()
        assert numba.get_num_threads() == old

def test_training_gives_the_same_numbers_on_one_thread_as_on_two(two_threads):
    "Kernels split into a fixed number of chunks: LoadWatch may change the threads without changing results."
    import numpy as np, dl2
    rng = np.random.default_rng(0)
    x, y = rng.random((96, 12, 12, 3), np.float32), rng.integers(0, 4, 96)
    weights = []
    for threads in (2, 1):
        numba.set_num_threads(threads)
        dl2.set_seed(0)
        m = dl2.Sequential([dl2.Input((12, 12, 3)), dl2.Conv2D(8, 3, padding='same'), dl2.BatchNormalization(),
                            dl2.ReLU(), dl2.MaxPooling2D(), dl2.Flatten(), dl2.Dense(4)])
        m.compile('adam', dl2.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
        weights.append(m.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
