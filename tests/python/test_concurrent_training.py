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
