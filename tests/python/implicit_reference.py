"""Our factors inside an `implicit` model object, for cross-checks against implicit's own evaluator.

Production code never does this (the scorer ranks `Factors` itself); the tests
do it to show our metrics agree with the library's where definitions coincide.
"""

from __future__ import annotations

from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from cinemart.models.base import Factors


def as_implicit_model(factors: Factors) -> AlternatingLeastSquares:
    with threadpool_limits(1, "blas"):  # keeps implicit's one-time BLAS warning quiet
        model = AlternatingLeastSquares(factors=factors.user_factors.shape[1], num_threads=1)
    model.user_factors, model.item_factors = factors.user_factors, factors.item_factors
    return model
