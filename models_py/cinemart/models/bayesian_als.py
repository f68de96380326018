"""Bayesian ALS: the explicit model sampled by Gibbs instead of solved for its mode.

Bayesian probabilistic matrix factorization (Salakhutdinov & Mnih, ICML
2008) on the same biased model as `ExplicitALS`,

    r_ui ~ N(mu + b_u + b_i + p_u . q_i, 1 / NOISE_PRECISION),

with each user's [p_u, b_u] (and each item's [q_i, b_i]) drawn from a
Gaussian whose mean and full precision matrix are themselves drawn from a
Normal-Wishart hyperprior every sweep. Tuned ALS picks one regularization
for every user; here each side's prior is learned from the data, and the
prediction averages the model over the posterior instead of trusting one
point of it, which is why it predicts held-out ratings better at a small
rank (Rendle et al. 2019 measure the same on ml-10m).

A sweep draws the hyper-parameters of the user side, then every user from
its conditional (`als_kernels.sample_rows`: ALS's normal equations with
the prior in place of the ridge), then the same for items. The first
`burn_in` sweeps are discarded; every later sweep is kept, and predictions
average the kept samples. That average is itself a factor model: the
samples' factors side by side, each scaled by 1/sqrt(S), with the biases
averaged, so `factors()` serves it through the same tables, SQL macros and
scorer as ALS, exactly, at rank x S columns.

Fixed, stated choices (as in the paper): the noise precision is 2 (ratings
on a 0.5-5 scale); the hyperprior has mean 0, strength beta0 = 2, nu0 = d
degrees of freedom and scale W0 = I. `reg` plays no part. Deterministic
per seed: every random draw comes from one seeded generator in a fixed
order, and the kernel's result does not depend on threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from cinemart.models.als_kernels import sample_rows
from cinemart.models.base import Factors, pair_dots
from cinemart.models.explicit_als import (ALSConfig, bias_features, centred_rows, finite_or_raise,
                                          validate_ratings)
from cinemart.models.threads import cpu_slot, threads_for
from cinemart.validation import index_array

NOISE_PRECISION = 2.0
PRIOR_STRENGTH = 2.0  # beta0: the hyperprior mean's weight, in observations


def draw_wishart(rng: np.random.Generator, dof: float, scale: np.ndarray) -> np.ndarray:
    """One Wishart(dof, scale) draw by the Bartlett decomposition."""
    d = scale.shape[0]
    lower = np.linalg.cholesky(scale)
    bartlett = np.zeros((d, d))
    for i in range(d):
        bartlett[i, i] = math.sqrt(rng.chisquare(dof - i))
        bartlett[i, :i] = rng.standard_normal(i)
    root = lower @ bartlett
    return root @ root.T


def draw_hyperparameters(rng: np.random.Generator, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, mean) of one side's prior, drawn from its Normal-Wishart conditional given the side's rows."""
    rows = np.asarray(state, dtype=np.float64)
    n, d = rows.shape
    average = rows.mean(axis=0)
    scatter = np.cov(rows.T, bias=True).reshape(d, d)
    strength = PRIOR_STRENGTH + n
    inverse_scale = np.eye(d) + n * scatter + PRIOR_STRENGTH * n / strength * np.outer(average, average)
    scale = np.linalg.inv(inverse_scale)
    precision = draw_wishart(rng, d + n, (scale + scale.T) / 2)
    centre = n * average / strength
    mean = centre + np.linalg.solve(np.linalg.cholesky(strength * precision).T, rng.standard_normal(d))
    return precision, mean


class BayesianALS:
    """Gibbs-sampled explicit model; see the module docstring. `ExplicitALS`'s fit/predict/factors contract."""

    def __init__(self, config: ALSConfig):
        if not isinstance(config, ALSConfig) or config.method != "bayesian":
            raise ValueError(f"BayesianALS needs an ALSConfig with method 'bayesian', got {config!r}")
        self.config = config
        self.global_mean = 0.0
        self._user_samples: list[np.ndarray] = []
        self._item_samples: list[np.ndarray] = []

    def fit(self, user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int,
            checkpoints: Iterable[int] = (), on_checkpoint: Callable[[int, BayesianALS], None] | None = None,
            ) -> BayesianALS:
        """Sample `iterations` sweeps; call `on_checkpoint(it, self)` after each listed sweep (after burn-in),
        predicting then from the samples kept so far."""
        cfg = self.config
        users, items, values = validate_ratings(user_idx, item_idx, ratings, n_users, n_items)
        wanted = cfg.checkpoint_list(checkpoints, on_checkpoint)
        with cpu_slot(threads_for(values.size * cfg.n_columns ** 2)):
            mean, user_rows, item_rows = centred_rows(users, items, values, n_users, n_items, cfg)
            self.global_mean = mean
            self._user_samples, self._item_samples = [], []
            rng = np.random.default_rng(cfg.seed)
            user_state, item_state = cfg.initial_state(n_users, n_items)
            for it in range(1, cfg.iterations + 1):
                user_state = self._sample_side(user_rows, item_state, user_state, rng, it, "user")
                item_state = self._sample_side(item_rows, user_state, item_state, rng, it, "item")
                if it > cfg.burn_in:
                    self._user_samples.append(user_state)
                    self._item_samples.append(item_state)
                if it in wanted:
                    on_checkpoint(it, self)
        return self

    def _sample_side(self, rows, other: np.ndarray, own: np.ndarray, rng: np.random.Generator, it: int,
                     side: str) -> np.ndarray:
        """Draw this side's prior, then every row of it given the other side; a new array."""
        dtype = own.dtype
        precision, prior_mean = draw_hyperparameters(rng, own)
        noise = rng.standard_normal(own.shape).astype(dtype)
        features, offsets = bias_features(other, self.config.biased)
        drawn = np.empty_like(own)
        sample_rows(rows.indptr, rows.indices, rows.targets, *rows.groups(), offsets, features, NOISE_PRECISION,
                    precision.astype(dtype), (precision @ prior_mean).astype(dtype), noise, drawn)
        return finite_or_raise(drawn, side, it, self.config)

    def fit_factors(self, user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray,
                    n_users: int, n_items: int) -> Factors:
        """The `cinemart.models.base.FactorModel` contract."""
        return self.fit(user_idx, item_idx, ratings, n_users, n_items).factors()

    def _kept(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if not self._user_samples:
            raise RuntimeError("BayesianALS has no kept sample; call fit() first")
        return self._user_samples, self._item_samples

    def factors(self) -> Factors:
        """The posterior-mean predictor as `Factors`: the kept samples side by side, scaled by 1/sqrt(S)."""
        users, items = self._kept()
        k, scale = self.config.rank, 1 / math.sqrt(len(users))

        def side(samples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            stacked = np.concatenate([s[:, :k] for s in samples], axis=1) * scale
            bias = np.mean([s[:, k] for s in samples], axis=0) if self.config.biased else np.zeros(len(stacked))
            return np.ascontiguousarray(stacked, dtype=np.float32), np.asarray(bias, dtype=np.float32)

        (p, b_u), (q, b_i) = side(users), side(items)
        return Factors(p, q, b_u, b_i, float(self.global_mean))

    def predict(self, user_idx: np.ndarray, item_idx: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
        """The average over kept samples of each sample's prediction (float64), plus `offsets` if given (time
        terms), clipped to the rating range."""
        users_kept, items_kept = self._kept()
        users = index_array("user_idx", user_idx, users_kept[0].shape[0])
        items = index_array("item_idx", item_idx, items_kept[0].shape[0])
        if users.size != items.size:
            raise ValueError(f"user_idx and item_idx must have equal lengths, got {users.size} and {items.size}")
        k = self.config.rank
        total = np.zeros(users.size)
        for user_state, item_state in zip(users_kept, items_kept):
            total += pair_dots(user_state[:, :k], item_state[:, :k], users, items)
            if self.config.biased:
                total += user_state[users, k]
                total += item_state[items, k]
        scores = total / len(users_kept) + self.global_mean
        if offsets is not None:
            scores += offsets
        return np.clip(scores, self.config.rating_min, self.config.rating_max)
