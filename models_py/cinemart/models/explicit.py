"""The explicit model a configuration names: ALS-WR or its Bayesian, Gibbs-sampled twin."""

from __future__ import annotations

from cinemart.models.bayesian_als import BayesianALS
from cinemart.models.explicit_als import ALSConfig, ExplicitALS


def explicit_model(config: ALSConfig) -> ExplicitALS | BayesianALS:
    """A fresh, unfitted model of `config.method`; both share fit, predict and factors."""
    return BayesianALS(config) if config.method == "bayesian" else ExplicitALS(config)
