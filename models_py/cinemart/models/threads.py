"""One CPU budget shared by every trainer in the process.

dbt runs Python models on `threads: 2`, so two trainings can run at once in
one process. Two things must hold then:

* numba parallel regions entered from two threads at once are safe only under
  its OpenMP or TBB threading layer; its `workqueue` fallback aborts the
  process. When one of the safe layers loads, numba is pinned to it
  (`THREADING_LAYER = "threadsafe"`, so it can never fall back); when none
  does, every fit takes the whole budget, which serializes them.
* numba and implicit share the cores: each fit takes thread tokens from one
  budget (CINEMART_THREADS, else the CPUs this process may use) and runs with
  exactly as many threads as it was granted: what it asks for, or what is
  free. A small fit asks for one token (below PARALLEL_MIN_WORK a second
  thread costs more than it saves), a large one for the whole budget; two fits
  at once then split the cores instead of running oversubscribed, as
  implicit's `num_threads=0` next to numba's pool did.

BLAS runs on one thread in every cinemart process, set once and never
restored (`pin_blas`). OpenBLAS's thread count is process-global and changes
results: implicit's `Y^T Y` with 2 BLAS threads gives other factors than with
1 (measured on ml-latest-small, factors 128: different bytes, same seed). A
scoped limit that one dbt thread restores while another is mid-fit made
`implicit_grid_search` differ between two identical builds; a limit nobody
changes cannot. Our parallelism lives above BLAS instead: numba and implicit
over rows, the scorer over blocks.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits

# Fits with less work than this per half-step (ratings x unknowns^2, about
# 10 ms on one core) run on one thread.  Two threads save at most a few ms
# there, while on a busy machine each parallel region can wait milliseconds
# for a descheduled worker: the ml-latest-small spark_seed CV grid took 1.5 s
# on 2 idle cores, 2.2 s on one thread, and 7-15 s on 2 threads with other
# jobs running.
PARALLEL_MIN_WORK = 100_000_000


def _threadsafe_layer() -> str | None:
    """The first of numba's concurrency-safe threading layers that loads here, if any."""
    for layer in ("tbb", "omp"):
        try:
            importlib.import_module(f"numba.np.ufunc.{layer}pool")
        except ImportError:
            continue
        return layer
    return None


SAFE_LAYER = _threadsafe_layer()
if SAFE_LAYER is not None:
    numba.config.THREADING_LAYER = "threadsafe"


def thread_budget() -> int:
    """Threads all fits together may use: CINEMART_THREADS, else the CPUs available to this process."""
    configured = os.environ.get("CINEMART_THREADS")
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise ValueError(f"CINEMART_THREADS must be an integer >= 1, got {configured!r}")
        return int(configured)
    return max(1, len(os.sched_getaffinity(0)))


class _Budget:
    """A counting semaphore over thread tokens: a fit gets what it asks for, or what is free.

    Granting what is free (at least one) instead of waiting for the full
    request keeps both cores busy when a one-thread fit and a larger one
    overlap, and no fit can starve behind a stream of small ones.
    """

    def __init__(self) -> None:
        self._total = thread_budget()
        self._free = self._total
        self._changed = threading.Condition()

    def take(self, wanted: int) -> int:
        with self._changed:
            if SAFE_LAYER is None:  # no concurrency-safe numba layer: one fit at a time
                self._changed.wait_for(lambda: self._free == self._total)
                granted = self._total
            else:
                self._changed.wait_for(lambda: self._free >= 1)
                granted = max(1, min(wanted, self._free))
            self._free -= granted
        return granted

    def give(self, count: int) -> None:
        with self._changed:
            self._free += count
            self._changed.notify_all()


_BUDGET = _Budget()
_HELD = threading.local()  # the grant of the slot this thread is inside, if any


def pin_blas() -> None:
    """Put every BLAS library loaded so far on one thread, for good (see module docstring).

    Called on entry to each `cpu_slot`, so a BLAS loaded late (scipy's,
    pulled in by implicit) is pinned before it is used.
    """
    threadpool_limits(1, "blas")


def threads_for(work: float) -> int:
    """Threads worth using for `work` (ratings x unknowns^2 per half-step): 1 or the whole budget."""
    return thread_budget() if work >= PARALLEL_MIN_WORK else 1


@contextmanager
def cpu_slot(threads: int) -> Iterator[int]:
    """Take up to `threads` tokens from the process budget (waiting while none is free); yields the grant.

    Inside, numba uses exactly that many threads (capped by its pool) and BLAS
    one (implicit and the ALS kernels parallelize over rows themselves;
    multithreaded BLAS under them is also ~10x slower, as implicit warns).
    A slot opened inside another on the same thread (scoring from a fit's
    checkpoint callback) reuses the outer grant instead of waiting on itself.
    """
    pin_blas()
    held = getattr(_HELD, "grant", None)
    if held is not None:
        yield held
        return
    granted = _BUDGET.take(threads)
    previous = numba.get_num_threads()
    _HELD.grant = granted
    try:
        numba.set_num_threads(min(granted, numba.config.NUMBA_NUM_THREADS))
        yield granted
    finally:
        _HELD.grant = None
        numba.set_num_threads(previous)
        _BUDGET.give(granted)
