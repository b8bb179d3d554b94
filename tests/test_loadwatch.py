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
