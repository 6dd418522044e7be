"""scratchcnn.kernels.parallel: big jobs split over threads; with
``TUNING.measure_splits``, splits measured before they are kept."""

import threading

import pytest

from scratchcnn.kernels import TUNING, parallel


@pytest.fixture
def measuring(monkeypatch):
    monkeypatch.setattr(TUNING, "measure_splits", True)


def test_unmeasured_a_big_job_always_splits_and_nothing_is_timed(monkeypatch):
    monkeypatch.setattr(TUNING, "measure_splits", False)
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "2")
    monkeypatch.setattr(parallel, "_clock", lambda: pytest.fail("timed"))
    seen = []
    for _ in range(3):
        parallel.parallel_slices(seen.append, 10, 10**9)
    assert sorted(seen, key=lambda s: s.start) == [slice(0, 5)] * 3 + [slice(5, 10)] * 3
    assert not parallel._choices


def fake_job(now, whole_cost, split_cost, seen):
    """A job whose whole call costs ``whole_cost`` and whose split costs ``split_cost`` on
    the fake clock ``now``; it records the slices it gets."""
    lock = threading.Lock()

    def fn(part):
        with lock:
            seen.append(part)
            now[0] += whole_cost if part.start == 0 and part.stop == length[0] else \
                split_cost / 2
    length = [0]
    return fn, length


def test_each_kind_of_job_keeps_the_faster_way(monkeypatch, measuring):
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "2")
    now = [0.0]
    monkeypatch.setattr(parallel, "_clock", lambda: now[0])
    for n, whole, split, keeps_split in [(10, 4.0, 1.0, True), (12, 1.0, 4.0, False)]:
        seen = []
        fn, length = fake_job(now, whole, split, seen)
        length[0] = n
        for _ in range(2 * parallel.TRIALS):  # trials: split first, then each way in turn
            parallel.parallel_slices(fn, n, 10**9)
        assert sum(1 for s in seen if s == slice(0, n)) == parallel.TRIALS
        choice = parallel._choices[(fn.__code__, n, 10**9, 2)]
        assert choice.split is keeps_split
        seen.clear()
        for _ in range(3):
            parallel.parallel_slices(fn, n, 10**9)
        expected = [slice(0, n // 2), slice(n // 2, n)] if keeps_split else [slice(0, n)]
        assert sorted(seen, key=lambda s: s.start) == sorted(expected * 3, key=lambda s: s.start)


def test_small_jobs_and_one_thread_never_split_nor_measure(monkeypatch):
    seen = []
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "1")
    parallel.parallel_slices(seen.append, 8, 10**9)
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "4")
    parallel.parallel_slices(seen.append, 8, 10)  # below TUNING.min_parallel_elements
    assert seen == [slice(0, 8), slice(0, 8)] and not parallel._choices


def test_the_remembered_choices_are_bounded(monkeypatch, measuring):
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "2")
    monkeypatch.setattr(parallel, "MAX_CHOICES", 3)
    for n in range(2, 9):
        parallel.parallel_slices(lambda s: None, n, 10**9)
        assert len(parallel._choices) <= 3
