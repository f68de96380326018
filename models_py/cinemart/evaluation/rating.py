"""Evaluation metrics shared by tuning, training reports and tests.

Metrics validate their inputs and raise ValueError instead of returning NaN:
a silently-NaN metric would make grid search pick an arbitrary winner.
"""

from __future__ import annotations

import numpy as np


def _paired_arrays(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coerce both inputs to float64 1-D arrays of equal, non-zero length with finite values."""
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if true.ndim != 1 or true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred must be 1-D with equal shapes, got {true.shape} and {pred.shape}")
    if true.size == 0:
        raise ValueError("cannot compute a metric over zero rows")
    if not (np.isfinite(true).all() and np.isfinite(pred).all()):
        raise ValueError("y_true and y_pred must not contain NaN or inf")
    return true, pred


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error of rating predictions."""
    true, pred = _paired_arrays(y_true, y_pred)
    return float(np.sqrt(np.mean(np.square(true - pred))))
