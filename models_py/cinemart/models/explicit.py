"""The explicit model a configuration names: ALS-WR or its Bayesian, Gibbs-sampled twin, with or
without Koren's time terms."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from cinemart.models.base import Factors
from cinemart.models.bayesian_als import BayesianALS
from cinemart.models.explicit_als import ALSConfig, ExplicitALS, validate_ratings
from cinemart.models.time_biases import TimeBiases, fit_time_biases


def explicit_model(config: ALSConfig) -> ExplicitALS | BayesianALS:
    """A fresh, unfitted factor model of `config.method`; both share fit, predict and factors."""
    return BayesianALS(config) if config.method == "bayesian" else ExplicitALS(config)


@dataclass(frozen=True)
class ExplicitFit:
    """A fitted factor model and, with `time_biases`, the time terms it was fitted beside."""

    model: ExplicitALS | BayesianALS
    terms: TimeBiases | None

    def predict(self, users: np.ndarray, items: np.ndarray, days: np.ndarray | None = None) -> np.ndarray:
        """Ratings predicted at each rating's day (`days` is required with time terms), clipped."""
        return self.model.predict(users, items, None if self.terms is None else
                                  self.terms.offsets(users, items, required_days(days)))

    def factors(self) -> Factors:
        """The model as served: with time terms, as of the data's end (`TimeBiases.current`) in the biases."""
        served = self.model.factors()
        if self.terms is None:
            return served
        user_now, item_now = self.terms.current()
        return Factors(served.user_factors, served.item_factors, (served.user_bias + user_now).astype(np.float32),
                       (served.item_bias + item_now).astype(np.float32), served.global_mean)


def required_days(days: np.ndarray | None) -> np.ndarray:
    """`days`, or one error saying where they come from."""
    if days is None:
        raise ValueError("time_biases needs each rating's day (int_ratings_split.rated_at, as rated_day)")
    return days


def time_detrended(config: ALSConfig, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int,
                   n_items: int, days: np.ndarray | None) -> tuple[TimeBiases | None, np.ndarray]:
    """(time terms, what the factor model fits): with `time_biases`, the terms fitted on the ratings minus
    their mean and the ratings minus the terms; else (None, the ratings)."""
    if not config.time_biases:
        return None, ratings
    users, items, values = validate_ratings(users, items, ratings, n_users, n_items)
    day = np.asarray(required_days(days), dtype=np.float64)
    if day.shape != values.shape:
        raise ValueError(f"days must hold one day per rating ({values.size}), got shape {day.shape}")
    terms = fit_time_biases(users, items, values - values.mean(), day, n_users, n_items)
    return terms, values - terms.offsets(users, items, day)


def fit_explicit(config: ALSConfig, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int,
                 n_items: int, days: np.ndarray | None = None) -> ExplicitFit:
    """Fit `config`: with `time_biases`, the time terms first and the factor model on what they leave."""
    terms, target = time_detrended(config, users, items, ratings, n_users, n_items, days)
    return ExplicitFit(explicit_model(config).fit(users, items, target, n_users, n_items), terms)
