"""What a Spark model caches, released when it is done with it.

A fit caches frames it reads more than once (bias frames, the split and its
train part, the factor table it builds) and MLlib's ALS leaves the fitted
factor RDDs it trains persisted ("userFactors", "itemFactors": ALS.train
persists them at `finalStorageLevel` and never releases them). Cached frames
stay in the session's CacheManager until someone unpersists them, so a grid
of 18 points x 5 folds would leave hundreds behind. Here:

  with Held() as held:            every frame cached through held.cache(...), every ALS model
      frame = held.cache(...)     passed to held.model(...), is released on leaving the block,
      model = held.model(...)     error or not (executor memory and disk)

  release_after_write(frame)      a cached frame a dbt Python model returns: dbt writes it after
                                  the model function returns, so it is released once the model's
                                  compiled code has run (`release_written`, called by
                                  cinemart.spark.dbt_session after each model, in its thread)
"""

from __future__ import annotations

import threading

from pyspark.sql import DataFrame

_written = threading.local()  # dbt runs each model (function and write) in one thread


def release_als(model) -> None:
    """Unpersist the factor RDDs an MLlib ALSModel keeps persisted (its userFactors and itemFactors
    DataFrames are built over them: an ExternalRDD leaf of each plan)."""
    for factors in (model.userFactors, model.itemFactors):
        leaves = factors._jdf.queryExecution().logical().collectLeaves().iterator()
        while leaves.hasNext():
            leaf = leaves.next()
            if leaf.getClass().getSimpleName() == "ExternalRDD":
                leaf.rdd().unpersist(False)


class Held:
    """Frames and ALS models cached during one fit or one model function; `release()` frees them all."""

    def __init__(self) -> None:
        self._frames: list[DataFrame] = []
        self._models: list = []

    def cache(self, frame: DataFrame) -> DataFrame:
        self._frames.append(frame.cache())
        return self._frames[-1]

    def model(self, model):
        self._models.append(model)
        return model

    def release(self) -> None:
        frames, models, self._frames, self._models = self._frames, self._models, [], []
        for frame in frames:
            frame.unpersist()
        for model in models:
            release_als(model)

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def release_after_write(frame: DataFrame) -> DataFrame:
    """Keep `frame` (cached) until this thread's dbt model has written its table, then unpersist it."""
    if not hasattr(_written, "frames"):
        _written.frames = []
    _written.frames.append(frame)
    return frame


def release_written() -> None:
    """Unpersist what this thread's model handed to `release_after_write` (its table is written)."""
    frames, _written.frames = getattr(_written, "frames", []), []
    for frame in frames:
        frame.unpersist()
