"""Two training models at once, as dbt runs them on `threads: 2` in one process.

Each fit takes thread tokens from one process-wide budget
(cinemart.models.threads); numba is pinned to a concurrency-safe threading
layer where one exists, and fits are serialized where none does.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_info, threadpool_limits

from cinemart.models import explicit_als, implicit_als, threads
from cinemart.models.explicit_als import ALSConfig, ExplicitALS
from cinemart.models.implicit_als import ImplicitParams, fit_implicit_als


def _ratings(seed: int = 0, n_users: int = 300, n_items: int = 200):
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.2)
    return users, items, rng.integers(1, 11, users.size) / 2.0, n_users, n_items


def _explicit(data):
    return ExplicitALS(ALSConfig(rank=8, iterations=4, seed=3)).fit_factors(*data)


def _implicit(data):
    return fit_implicit_als(*data, ImplicitParams(factors=8, iterations=4), seed=3)


def test_numba_runs_on_a_concurrency_safe_layer_or_fits_are_serialized():
    if threads.SAFE_LAYER is None:
        assert threads._BUDGET.take(1) == threads.thread_budget()  # no safe layer: every fit takes everything
        threads._BUDGET.give(threads.thread_budget())
    else:
        _explicit(_ratings())  # forces numba to pick its layer
        assert numba.threading_layer() in ("tbb", "omp")


def test_two_trainings_at_once_match_sequential_fits_within_one_budget(monkeypatch):
    data = _ratings()
    # ask for two threads per fit, as large fits do, so the fits must share the budget
    monkeypatch.setattr(explicit_als, "threads_for", lambda work: 2)
    monkeypatch.setattr(implicit_als, "threads_for", lambda work: 2)
    sequential = (_explicit(data), _implicit(data))

    in_use, peak, lock = [0], [0], threading.Lock()
    take, give = threads._BUDGET.take, threads._BUDGET.give

    def tracked_take(wanted):
        granted = take(wanted)
        with lock:
            in_use[0] += granted
            peak[0] = max(peak[0], in_use[0])
        return granted

    def tracked_give(count):
        with lock:
            in_use[0] -= count
        give(count)

    monkeypatch.setattr(threads._BUDGET, "take", tracked_take)
    monkeypatch.setattr(threads._BUDGET, "give", tracked_give)

    results, errors = {}, []

    def run(name, fit):
        try:
            results[name] = [fit(data) for _ in range(3)]
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(name, fit))
               for name, fit in (("explicit", _explicit), ("implicit", _implicit))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not errors
    assert 0 < peak[0] <= threads.thread_budget()
    for name, reference in zip(("explicit", "implicit"), sequential):
        for got in results[name]:
            np.testing.assert_array_equal(got.user_factors, reference.user_factors)
            np.testing.assert_array_equal(got.item_factors, reference.item_factors)


def test_thread_budget_setting_is_validated(monkeypatch):
    monkeypatch.setenv("CINEMART_THREADS", "0")
    with pytest.raises(ValueError, match="CINEMART_THREADS must be an integer >= 1, got '0'"):
        threads.thread_budget()



def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_blas_stays_on_one_thread_through_fits_and_scoring():
    """Regression: two identical builds once gave different implicit_grid_search rows.

    OpenBLAS's thread count is process-global, and implicit's `Y^T Y` gives
    other bits on 2 threads than on 1. Scoped limits that each fit and the
    scorer set and restored let one dbt thread put BLAS back on 2 threads
    while another thread's fit was running. Nothing in cinemart may leave BLAS
    on more than one thread, so no interleaving can reach that state.
    """
    from cinemart.serving.scoring import similar, top_n

    data = _ratings()
    with threadpool_limits(2, "blas"):  # a process that starts with multithreaded BLAS, as dbt's does
        model = _implicit(data)
        assert _blas_threads() == {1}
        seen = sp.csr_matrix((np.ones(data[0].size), (data[0], data[1])), shape=(data[3], data[4]))
        top_n(model, seen, np.arange(data[3]), n=10)
        assert _blas_threads() == {1}
        similar(model.item_factors, np.arange(data[4]), n=10)
        assert _blas_threads() == {1}
        _explicit(data)
        assert _blas_threads() == {1}
