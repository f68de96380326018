"""Fold a row the model never saw into a fitted model: one ALS half-step for that row alone.

ALS alternates exact least-squares solves of one side given the other, so a
user who arrives with a handful of ratings (or a movie whose ratings are held
back to simulate its cold start) can be given the factors the fit's next
half-step would give it, against the other side's *served* factors, without
retraining anything. That is `implicit`'s `recalculate_user`; here the same
solve covers every served model, so a new user is scored exactly like a known
one (`cinemart.serving.scoring`).

Every model is one weighted ridge problem over the other side's rows y_j:

    minimize  sum_j w_j (t_j - y_j.x)^2  [+ sum over all rows (0 - y_j.x)^2]  +  x' diag(reg) x

  implicit (the `implicit` library): w_j = alpha * value_j, t_j = 1, plus the
      all-rows term (Y'Y: every unrated movie is a weak "no"), reg = lambda.
  MLlib implicitPrefs: w_j = 1 + alpha * value_j, the same all-rows term,
      reg = lambda * n (MLlib scales by the row's interactions).
  explicit ALS-WR (ours and MLlib's): w_j = 1, t_j = r_j - mu - b_j (biased
      mode: y_j gains a constant-1 column whose coefficient is the row's own
      bias), reg = lambda * n on the factors (bias_reg * n on the bias).

EASE (`cinemart.models.ease`, kind "ease") is no ridge problem over rows: a
user's row is their positives (rating >= threshold) on the model's kept movies,
0/1, exactly as the fit builds it, so a new user needs no solve. The kept
movies are the finite entries of the movie biases (`cinemart.models.ease.kept_items`);
rated movies the model did not keep, or whose row of B is zero, are ignored.
Only users fold in: an EASE movie is a column of B, which a user-side
half-step cannot give.

`FoldIn` carries which of these a served model is; `from_parameters` reads it
from the JSON that ranking_evaluation.parameters and the grid tables record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from cinemart.models.ease import contributing_columns
from cinemart.models.implicit_als import confidence
from cinemart.models.popularity import POPULAR_MIN_RATING
from cinemart.validation import require_number

KINDS = ("implicit", "mllib_implicit", "explicit", "popularity", "ease")


@dataclass(frozen=True)
class FoldIn:
    """How one served model solves a single row (see the module docstring)."""

    kind: str
    regularization: float = 0.0
    bias_regularization: float | None = None  # explicit, biased mode; None = no bias term
    alpha: float = 1.0
    confidence: str = "binary"  # implicit kinds: how a rating becomes a value (cinemart.models.implicit_als)
    threshold: float = 4.0  # implicit kinds' threshold confidence; ease: its min_rating

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fold-in kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        require_number("regularization", self.regularization, lambda v: v >= 0, ">= 0")
        require_number("alpha", self.alpha, lambda v: v > 0, "> 0")

    @classmethod
    def from_parameters(cls, model: str, parameters: str | Mapping[str, Any], engine: str = "duckdb") -> FoldIn:
        """From a served model's name and its recorded parameters (JSON), on either engine."""
        p = json.loads(parameters) if isinstance(parameters, str) else dict(parameters)
        if model == "popularity":
            return cls("popularity")
        if model == "implicit_als":
            return cls("mllib_implicit" if engine == "spark" else "implicit", float(p["regularization"]),
                       alpha=float(p["alpha"]), confidence=str(p.get("confidence", "binary")),
                       threshold=float(p.get("threshold", p.get("confidence_threshold", 4.0))))
        if model == "explicit_als":
            if p.get("method") == "bayesian":
                raise ValueError("no fold-in for Bayesian explicit ALS: its served factors are posterior samples "
                                 "side by side, and a new user's would need the sampler's priors")
            reg = float(p["reg"])
            biased = bool(p.get("biased", engine != "spark"))
            bias_reg = p.get("bias_reg")
            return cls("explicit", reg, (reg if bias_reg is None else float(bias_reg)) if biased else None)
        if model == "ease":
            return cls("ease", float(p["regularization"]), threshold=float(p.get("min_rating", POPULAR_MIN_RATING)))
        raise ValueError(f"no fold-in for model {model!r}")


def fold_in(fold: FoldIn, other_factors: np.ndarray, other_bias: np.ndarray, global_mean: float,
            other_idx: np.ndarray, ratings: np.ndarray, gram: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(factors, bias) of one new row that rated `other_idx` (indices into `other_factors`) with `ratings`.

    `other_factors` is the *other* side: movie factors to fold in a user, user
    factors to fold in a movie. `gram` = other_factors' Y'Y in float64, when
    the caller folds in many rows (the implicit kinds need it; it costs one
    pass over the other side). A row with no usable rating gets zeros, the
    models' own cold-start rule.
    """
    other_idx = np.asarray(other_idx, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    if other_idx.shape != ratings.shape:
        raise ValueError(f"other_idx and ratings differ in shape: {other_idx.shape} vs {ratings.shape}")
    if np.unique(other_idx).size != other_idx.size:
        raise ValueError("a row rated the same movie (user) twice; give each once")
    k = other_factors.shape[1]
    if fold.kind == "popularity":  # user factor [1] for everyone, as the fit gives it
        return np.ones(k, dtype=np.float32), 0.0
    if fold.kind == "explicit":
        return _explicit(fold, other_factors, other_bias, global_mean, other_idx, ratings)
    if fold.kind == "ease":
        return _ease(fold, other_factors, other_bias, other_idx, ratings)
    values = confidence(ratings, fold.confidence, fold.threshold).astype(np.float64)
    keep = values > 0
    other_idx, values = other_idx[keep], values[keep]
    if other_idx.size == 0:
        return np.zeros(k, dtype=np.float32), 0.0
    y = np.asarray(other_factors, dtype=np.float64)
    if gram is None:
        gram = y.T @ y
    rows = y[other_idx]
    if fold.kind == "implicit":
        weight, reg = fold.alpha * values, fold.regularization
    else:  # MLlib: confidence 1 + alpha |r|, regParam per interaction
        weight, reg = 1.0 + fold.alpha * values, fold.regularization * other_idx.size
    a = gram + rows.T @ ((weight - 1.0)[:, None] * rows) + reg * np.eye(k)
    b = rows.T @ weight
    return np.linalg.solve(a, b).astype(np.float32), 0.0


def _explicit(fold: FoldIn, other_factors: np.ndarray, other_bias: np.ndarray, global_mean: float,
              other_idx: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
    k = other_factors.shape[1]
    n = other_idx.size
    if n == 0:
        return np.zeros(k, dtype=np.float32), 0.0
    biased = fold.bias_regularization is not None
    rows = np.asarray(other_factors[other_idx], dtype=np.float64)
    target = ratings - global_mean
    if biased:
        target = target - np.asarray(other_bias, dtype=np.float64)[other_idx]
        rows = np.hstack([rows, np.ones((n, 1))])
    reg = np.full(rows.shape[1], fold.regularization * n)
    if biased:
        reg[-1] = fold.bias_regularization * n
    a = rows.T @ rows + np.diag(reg)
    if not np.all(np.diag(a) > 0):  # reg = 0 and a movie nobody else has a direction for
        raise ValueError("cannot fold in with regularization 0 and fewer ratings than factors; use reg > 0")
    x = np.linalg.solve(a, rows.T @ target)
    return (x[:k].astype(np.float32), float(x[k])) if biased else (x.astype(np.float32), 0.0)


def _ease(fold: FoldIn, item_factors: np.ndarray, item_bias: np.ndarray, item_idx: np.ndarray,
          ratings: np.ndarray) -> tuple[np.ndarray, float]:
    """A new user's EASE row: 1 on each kept movie rated >= fold.threshold, in the kept movies' column order."""
    kept = np.flatnonzero(np.isfinite(np.asarray(item_bias)))  # cinemart.models.ease.kept_items
    if item_factors.shape[1] != kept.size:
        raise ValueError(f"EASE fold-in needs the movie side: {kept.size} kept movies (finite biases) but factors "
                         f"of width {item_factors.shape[1]}")
    row = np.zeros(kept.size, dtype=np.float32)
    liked = item_idx[ratings >= fold.threshold]
    column = np.searchsorted(kept, liked)
    inside = column < kept.size
    column, liked = column[inside], liked[inside]
    row[column[kept[column] == liked]] = 1.0
    row[~contributing_columns(item_factors)] = 0.0  # as fit_ease: a movie adding to no score is no taste
    return row, 0.0
