"""Time-changing baseline terms (Koren, "Collaborative Filtering with Temporal Dynamics", KDD 2009).

A movie's appeal and a user's rating scale drift over the years a data set
spans. Koren's timeSVD baseline models both on top of the static biases:

    r_ui(t) ~ mu + b_u + b_i + p_u . q_i + alpha_u * dev_u(t) + b_{i, bin(t)}

- `alpha_u * dev_u(t)`: the user's bias drifts with the days since the mean
  day of their ratings, dev_u(t) = sign(t - t_u) |t - t_u|^0.4 (Koren's
  exponent); one extra number per user.
- `b_{i, bin(t)}`: the movie's bias in each of `TIME_BINS` equal spans of
  the fit's days; TIME_BINS numbers per movie.

Koren's day-specific user bias b_{u,t} is left out: it needs several
ratings by one user on the day predicted, which a held-out rating's day
rarely has.

The terms are fitted first, on the ratings minus the global mean, together
with static biases by ridge backfitting (`fit_time_biases`); the factor model
(ALS or Bayesian) is then fitted on what they leave. Fitting them first keeps
them a function of the ratings alone, so every table that scores a rating at
its own day (als_predictions, CV) recomputes the same terms from the same
rows, and the factor tables stay the factor model's shape.

A day outside the span the terms were fitted on takes the nearest fitted
day: the user's last (or first) day of ratings for the drift, the first or
last bin for the movie. Drift is never extrapolated past a user's ratings.
Served lists score "as of the data's end": `current()` is each user's drift
at their last rating and each movie's last-bin bias, folded into the served
biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIME_BINS = 30
DRIFT_EXPONENT = 0.4
#: Ridge penalties, in ratings' worth of evidence: static user and movie biases (Koren's baseline
#: 10 and 25), the drift (its regressor dev_u is in days^0.4, tens for a user active for years)
#: and a movie's bias in one bin. Drift and bin penalties were read off ml-latest-small's
#: validation fold (Bayesian rank 10): RMSE 0.8520 without terms, 0.8423-0.8426 for drift 0.1-1
#: and bins 25-50, 0.8464 at drift 100; so the terms' gain does not hinge on these values.
USER_BIAS_REG, ITEM_BIAS_REG, DRIFT_REG, BIN_REG = 10.0, 25.0, 1.0, 50.0
BACKFIT_ROUNDS = 6


@dataclass(frozen=True)
class TimeBiases:
    """Fitted drift and bin terms on dense user and item indices (see the module docstring)."""

    first_day: float  # the span the bins cover
    last_day: float
    user_anchor: np.ndarray  # t_u: each user's mean day of rating (float64)
    user_first: np.ndarray  # each user's first and last day of rating
    user_last: np.ndarray
    user_drift: np.ndarray  # alpha_u
    item_bins: np.ndarray  # (n_items, TIME_BINS)

    def bin_of(self, days: np.ndarray) -> np.ndarray:
        """The bin of each day; days outside the fitted span take the nearest bin."""
        n_bins = self.item_bins.shape[1]
        width = max(self.last_day - self.first_day, 1.0) / n_bins
        return np.clip(((days - self.first_day) // width).astype(np.int64), 0, n_bins - 1)

    def deviation(self, users: np.ndarray, days: np.ndarray) -> np.ndarray:
        """dev_u(t) with t held inside the user's own span of ratings."""
        held = np.clip(days, self.user_first[users], self.user_last[users])
        gap = held - self.user_anchor[users]
        return np.sign(gap) * np.abs(gap) ** DRIFT_EXPONENT

    def offsets(self, users: np.ndarray, items: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The time terms of each (user, item, day), float64."""
        return (self.user_drift[users] * self.deviation(users, days)
                + self.item_bins[items, self.bin_of(days)])

    def since_end(self, users: np.ndarray, items: np.ndarray, days: np.ndarray) -> np.ndarray:
        """What moves a served score (terms as of the data's end) to the score at each day."""
        user_now, item_now = self.current()
        return self.offsets(users, items, days) - user_now[users] - item_now[items]

    def current(self) -> tuple[np.ndarray, np.ndarray]:
        """(per user, per item) terms as of the data's end: the drift at the user's last rating, the last bin."""
        n_users = self.user_drift.size
        users = np.arange(n_users)
        return self.user_drift * self.deviation(users, self.user_last), self.item_bins[:, -1].copy()


def _ridge_means(index: np.ndarray, values: np.ndarray, size: int, reg: float) -> np.ndarray:
    return np.bincount(index, values, minlength=size) / (np.bincount(index, minlength=size) + reg)


def fit_time_biases(users: np.ndarray, items: np.ndarray, centred: np.ndarray, days: np.ndarray,
                    n_users: int, n_items: int) -> TimeBiases:
    """Static biases plus time terms by ridge backfitting on `centred` (ratings minus their mean);
    returns the time terms only (the factor model refits its own static biases on what they leave)."""
    days = np.asarray(days, dtype=np.float64)
    first, last = float(days.min()), float(days.max())
    count_u = np.bincount(users, minlength=n_users)
    seen = np.maximum(count_u, 1)
    anchor = np.bincount(users, days, minlength=n_users) / seen
    user_first = np.full(n_users, first)
    user_last = np.full(n_users, last)
    order = np.lexsort((days, users))
    starts = np.flatnonzero(np.r_[True, np.diff(users[order]) != 0])
    rated = users[order][starts]
    user_first[rated] = days[order][starts]
    ends = np.r_[starts[1:], order.size] - 1
    user_last[rated] = days[order][ends]
    terms = TimeBiases(first, last, anchor, user_first, user_last, np.zeros(n_users),
                       np.zeros((n_items, TIME_BINS)))
    dev = terms.deviation(users, days)
    cell = items * TIME_BINS + terms.bin_of(days)
    b_u, b_i = np.zeros(n_users), np.zeros(n_items)
    drift, bins = terms.user_drift, terms.item_bins.reshape(-1)
    for _ in range(BACKFIT_ROUNDS):
        timed = drift[users] * dev + bins[cell]
        b_u = _ridge_means(users, centred - b_i[items] - timed, n_users, USER_BIAS_REG)
        b_i = _ridge_means(items, centred - b_u[users] - timed, n_items, ITEM_BIAS_REG)
        rest = centred - b_u[users] - b_i[items]
        drift = (np.bincount(users, dev * (rest - bins[cell]), minlength=n_users)
                 / (np.bincount(users, dev * dev, minlength=n_users) + DRIFT_REG))
        bins = _ridge_means(cell, rest - drift[users] * dev, n_items * TIME_BINS, BIN_REG)
    return TimeBiases(first, last, anchor, user_first, user_last, drift, bins.reshape(n_items, TIME_BINS))
