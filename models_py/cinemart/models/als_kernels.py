"""Numba kernels for one ALS half-step: re-solve every row of a CSR matrix.

The user step and the item step are the same computation on the rating
matrix and its transpose, so there is exactly one kernel, `solve_rows`.
Each row's least-squares problem is

    (sum_j y_j y_j^T + n_row * diag(reg_diag)) x = sum_j (t_j - offset_j) y_j

where y_j are the other side's feature rows (already augmented with a
constant 1 column in biased mode) and offset_j is the other side's bias.
A row is solved one of three ways: `_solve_primal` (Cholesky of the d x d
normal equations), `_solve_dual` (Cholesky of an n x n system, for rows with
fewer ratings n than unknowns d) or `_cg_solve` (warm-started conjugate
gradient, when the caller asks for it).

Determinism: rows are independent and each row is solved by a fixed
sequential loop, so the result does not depend on the thread count or on
how rows are distributed among threads.  `fastmath` stays off so the
compiler cannot reassociate those loops either.

All arithmetic stays in the dtype of `features` (float32 or float64): the
scratch buffers are allocated in that dtype and scalar accumulators are
seeded from array elements rather than Python float literals, which numba
would otherwise type as float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

Array = np.ndarray

# Same early-exit threshold as the `implicit` library's CG solver: once the
# squared residual norm is this small further steps only add rounding noise.
CG_RESIDUAL_EPS = 1e-20

_KERNEL_OPTIONS = {"cache": True, "fastmath": False, "nogil": True}


# Tiny helpers are inlined at numba-IR level: as separate functions the
# array-view arguments cost reference counting on every call (3x slower
# Cholesky at rank 64).
@njit(inline="always", **_KERNEL_OPTIONS)
def _dot(a: Array, b: Array, d: int) -> float:
    """Sequential dot product of the first `d` entries, typed like the inputs."""
    acc = a[0] * b[0]
    for j in range(1, d):
        acc += a[j] * b[j]
    return acc


@njit(inline="always", **_KERNEL_OPTIONS)
def _axpy_range(start: int, stop: int, alpha: float, x: Array, y: Array) -> None:
    """y[start:stop] += alpha * x[start:stop].

    Indexing with uint64 spares numba's negative-index wraparound check,
    which otherwise keeps LLVM from vectorizing loops whose start varies
    (about 5x slower for the triangular loops below at rank 64).
    """
    for c in range(stop - start):
        col = np.uint64(start + c)
        y[col] += alpha * x[col]


@njit(**_KERNEL_OPTIONS)
def _cholesky_in_place(gram: Array, n: int) -> bool:
    """Factor gram[:n, :n] = U^T U in place (U lands in the upper triangle).

    Reads only the upper triangle.  Right-looking factorization so every
    inner loop walks a contiguous row.  Returns False when the matrix is not
    positive definite (only possible with reg = 0 and too few ratings).
    """
    for j in range(n):
        pivot = gram[j, j]
        if not pivot > 0:
            return False
        diag = np.sqrt(pivot)
        gram[j, j] = diag
        for col in range(j + 1, n):
            gram[j, col] /= diag
        for i in range(j + 1, n):
            _axpy_range(i, n, -gram[j, i], gram[j], gram[i])
    return True


@njit(inline="always", **_KERNEL_OPTIONS)
def _forward_substitute(upper: Array, rhs: Array, n: int) -> None:
    """Solve U^T x = rhs in place, column-oriented (contiguous rows of U)."""
    for i in range(n):
        zi = rhs[i] / upper[i, i]
        rhs[i] = zi
        _axpy_range(i + 1, n, -zi, upper[i], rhs)


@njit(inline="always", **_KERNEL_OPTIONS)
def _back_substitute(upper: Array, rhs: Array, n: int) -> None:
    """Solve U x = rhs in place for the factor U of `_cholesky_in_place`."""
    for i in range(n - 1, -1, -1):
        acc = rhs[i]
        for col in range(i + 1, n):
            acc -= upper[i, col] * rhs[col]
        rhs[i] = acc / upper[i, i]


@njit(**_KERNEL_OPTIONS)
def _cholesky_solve_in_place(gram: Array, rhs: Array, n: int) -> bool:
    """Solve gram[:n, :n] x = rhs[:n] in place (x lands in rhs) via U^T U; False if not positive definite."""
    if not _cholesky_in_place(gram, n):
        return False
    _forward_substitute(gram, rhs, n)
    _back_substitute(gram, rhs, n)
    return True


@njit(**_KERNEL_OPTIONS)
def _accumulate_normal_equations(
    start: int, end: int, indices: Array, targets: Array, offsets: Array, features: Array, gram: Array, x: Array,
) -> None:
    """gram = sum y y^T (upper triangle) and x = sum t y over one row's ratings: O(n d^2).

    Ratings are taken four at a time so each gram entry is loaded and stored
    once per four rank-1 updates (the loop is load/store bound otherwise);
    the fixed grouping keeps the summation order, hence the result,
    independent of threading.
    """
    d = features.shape[1]
    gram[:, :] = 0
    x[:] = 0
    idx = start
    while idx + 4 <= end:
        i0, i1, i2, i3 = indices[idx], indices[idx + 1], indices[idx + 2], indices[idx + 3]
        y0, y1, y2, y3 = features[i0], features[i1], features[i2], features[i3]
        t0 = targets[idx] - offsets[i0]
        t1 = targets[idx + 1] - offsets[i1]
        t2 = targets[idx + 2] - offsets[i2]
        t3 = targets[idx + 3] - offsets[i3]
        for j in range(d):
            a0, a1, a2, a3 = y0[j], y1[j], y2[j], y3[j]
            x[j] += t0 * a0 + t1 * a1 + t2 * a2 + t3 * a3
            row = gram[j]
            for c in range(d - j):
                col = np.uint64(j + c)
                row[col] += a0 * y0[col] + a1 * y1[col] + a2 * y2[col] + a3 * y3[col]
        idx += 4
    while idx < end:
        y = features[indices[idx]]
        t = targets[idx] - offsets[indices[idx]]
        for j in range(d):
            x[j] += t * y[j]
            _axpy_range(j, d, y[j], y, gram[j])
        idx += 1


@njit(**_KERNEL_OPTIONS)
def _solve_primal(
    start: int, end: int, indices: Array, targets: Array, offsets: Array, features: Array, reg_n: Array,
    gram: Array, x: Array,
) -> bool:
    """Form (sum y y^T + diag(reg_n)) x = sum t y and solve it: O(n d^2 + d^3)."""
    d = features.shape[1]
    _accumulate_normal_equations(start, end, indices, targets, offsets, features, gram, x)
    for j in range(d):
        gram[j, j] += reg_n[j]
    return _cholesky_solve_in_place(gram, x, d)


@njit(**_KERNEL_OPTIONS)
def _solve_dual(
    start: int, end: int, indices: Array, targets: Array, offsets: Array, features: Array, reg_n: Array,
    gram: Array, scaled_t: Array, z: Array, x: Array,
) -> bool:
    """Same solution as `_solve_primal` for a row with n < d ratings, in O(n^2 d).

    Push-through identity with D = diag(reg_n):
    (Y^T Y + D)^-1 Y^T t = D^-1 Y^T (I + Y D^-1 Y^T)^-1 t, an n x n system.
    Most items of a long-tail catalogue have fewer ratings than unknowns, so
    this removes the d^3 factorization from the bulk of the item step.
    `scaled_t` holds (Y D^-1)^T so the Gram rows build from contiguous
    axpys.  Requires every reg_n > 0.
    """
    d = features.shape[1]
    n = end - start
    for a in range(n):
        i = indices[start + a]
        for j in range(d):
            scaled_t[j, a] = features[i, j] / reg_n[j]
        z[a] = targets[start + a] - offsets[i]
    for a in range(n):
        y = features[indices[start + a]]
        row = gram[a]
        for b in range(a, n):
            row[b] = 0
        row[a] = 1
        for j in range(d):
            _axpy_range(a, n, y[j], scaled_t[j], row)
    if not _cholesky_solve_in_place(gram, z, n):
        return False
    x[:] = 0
    for a in range(n):
        _axpy_range(0, d, z[a], features[indices[start + a]], x)
    for j in range(d):
        x[j] /= reg_n[j]
    return True


@njit(**_KERNEL_OPTIONS)
def _apply_row_operator(
    start: int, indices: Array, features: Array, features_t: Array, reg_n: Array, vec: Array, weights: Array,
    out: Array,
) -> None:
    """out = (Y^T Y + diag(reg_n)) vec for the row's feature rows Y, matrix-free.

    `features_t` is Y^T gathered contiguously (d x n), so Y vec accumulates
    by axpys over its rows instead of n dot products: a dot product is a
    reduction, which LLVM may not vectorize without fastmath, whereas the
    axpys vectorize.  `weights` (n,) receives Y vec.
    """
    d, n = features_t.shape
    weights[:] = 0
    for j in range(d):
        _axpy_range(0, n, vec[j], features_t[j], weights)
    for j in range(d):
        out[j] = reg_n[j] * vec[j]
    for a in range(n):
        _axpy_range(0, d, weights[a], features[indices[start + a]], out)


@njit(**_KERNEL_OPTIONS)
def _cg_solve(
    start: int, end: int, indices: Array, targets: Array, offsets: Array, features: Array, reg_n: Array,
    cg_steps: int, scratch: Array, x: Array, r: Array, p: Array, ap: Array,
) -> None:
    """Refine the warm start `x` in place with `cg_steps` conjugate-gradient steps.

    Warm-starting from the previous sweep's factors means a few steps per
    sweep suffice (as in `implicit`); the matrix-free product costs
    O(n_row * d) instead of the O(n_row * d^2) of forming normal equations.
    `scratch` holds at least (d + 1) * n_row entries for Y^T and Y v.
    """
    d = x.shape[0]
    n = end - start
    features_t = scratch[: d * n].reshape((d, n))
    weights = scratch[d * n : (d + 1) * n]
    for a in range(n):
        i = indices[start + a]
        for j in range(d):
            features_t[j, a] = features[i, j]
    # r = b - A x with b = Y^T (t - offsets): one operator application.
    _apply_row_operator(start, indices, features, features_t, reg_n, x, weights, ap)
    r[:] = 0
    for a in range(n):
        i = indices[start + a]
        _axpy_range(0, d, targets[start + a] - offsets[i], features[i], r)
    for j in range(d):
        r[j] -= ap[j]
    p[:] = r
    rs_old = _dot(r, r, d)
    for _ in range(cg_steps):
        if rs_old < CG_RESIDUAL_EPS:
            break
        _apply_row_operator(start, indices, features, features_t, reg_n, p, weights, ap)
        alpha = rs_old / _dot(p, ap, d)
        for j in range(d):
            x[j] += alpha * p[j]
            r[j] -= alpha * ap[j]
        rs_new = _dot(r, r, d)
        beta = rs_new / rs_old
        for j in range(d):
            p[j] = r[j] + beta * p[j]
        rs_old = rs_new


@njit(parallel=True, **_KERNEL_OPTIONS)
def solve_rows(
    indptr: Array, indices: Array, targets: Array, row_order: Array, group_ptr: Array, offsets: Array,
    features: Array, reg_diag: Array, warm_start: Array, use_cg: bool, cg_steps: int, out: Array,
) -> None:
    """Solve every row's regularized least squares; write solutions into `out`.

    Args mirror one CSR matrix (indptr, indices, targets) of shape
    (n_rows, n_other) plus the other side's `features` (n_other, d) and
    `offsets` (n_other,).  `reg_diag` (d,) is lambda per unknown, scaled here
    by the row's rating count (ALS-WR).  `warm_start` (n_rows, d) seeds CG and
    is ignored by the direct solvers; rows with fewer ratings than unknowns
    take the cheaper dual system when every lambda is positive.  Rows
    without ratings get all-zero solutions.  A non-positive-definite system
    yields a NaN row for the caller to report.

    Rows are processed in groups, `row_order[group_ptr[g]:group_ptr[g + 1]]`
    for group g, one prange iteration per group.  numba hands each thread a
    contiguous, equal share of iterations, so the caller builds groups of
    equal work (see `balanced_groups`); each group allocates its scratch
    once.  Grouping decides only which thread solves a row, never how.
    """
    d = features.shape[1]
    n_groups = group_ptr.shape[0] - 1
    dual_ok = reg_diag.min() > 0
    for group in prange(n_groups):
        first, stop = group_ptr[group], group_ptr[group + 1]
        longest = 0
        if use_cg:
            for pos in range(first, stop):
                row = row_order[pos]
                longest = max(longest, indptr[row + 1] - indptr[row])
        scratch = np.empty((d + 1) * longest, dtype=features.dtype)
        gram = np.empty((d, d), dtype=features.dtype)
        scaled_t = np.empty((d, d), dtype=features.dtype)
        reg_n = np.empty(d, dtype=features.dtype)
        x = np.empty(d, dtype=features.dtype)
        r = np.empty(d, dtype=features.dtype)
        p = np.empty(d, dtype=features.dtype)
        ap = np.empty(d, dtype=features.dtype)
        for pos in range(first, stop):
            row = row_order[pos]
            start = indptr[row]
            end = indptr[row + 1]
            if start == end:
                out[row, :] = 0
                continue
            for j in range(d):
                reg_n[j] = reg_diag[j] * (end - start)
            if use_cg:
                x[:] = warm_start[row]
                _cg_solve(start, end, indices, targets, offsets, features, reg_n, cg_steps, scratch, x, r, p, ap)
                solved = True
            elif dual_ok and end - start < d:
                solved = _solve_dual(start, end, indices, targets, offsets, features, reg_n, gram, scaled_t, r, x)
            else:
                solved = _solve_primal(start, end, indices, targets, offsets, features, reg_n, gram, x)
            if solved:
                out[row, :] = x
            else:
                out[row, :] = np.nan


@njit(parallel=True, **_KERNEL_OPTIONS)
def sample_rows(
    indptr: Array, indices: Array, targets: Array, row_order: Array, group_ptr: Array, offsets: Array,
    features: Array, noise_precision: float, prior_precision: Array, prior_shift: Array, noise: Array, out: Array,
) -> None:
    """Draw every row from its Gaussian conditional (Bayesian ALS); write the draws into `out`.

    The same normal equations as `solve_rows`, with the prior in place of
    the ridge: precision P = prior_precision + a sum y y^T and mean
    P^-1 (prior_shift + a sum t y), where a is the noise precision and
    prior_shift = prior_precision @ prior_mean.  With P = U^T U the draw is
    mean + U^-1 z for the row's standard-normal `noise` row z, whose
    covariance U^-1 U^-T is P^-1.  A row without ratings is a draw from the
    prior.  The caller draws `noise` from its seeded generator, so the
    draws do not depend on threads.  A non-positive-definite system (not
    possible with a proper prior) yields a NaN row for the caller to report.
    """
    d = features.shape[1]
    n_groups = group_ptr.shape[0] - 1
    for group in prange(n_groups):
        gram = np.empty((d, d), dtype=features.dtype)
        x = np.empty(d, dtype=features.dtype)
        z = np.empty(d, dtype=features.dtype)
        for pos in range(group_ptr[group], group_ptr[group + 1]):
            row = row_order[pos]
            _accumulate_normal_equations(indptr[row], indptr[row + 1], indices, targets, offsets, features, gram, x)
            for j in range(d):
                x[j] = noise_precision * x[j] + prior_shift[j]
                for col in range(j, d):
                    gram[j, col] = noise_precision * gram[j, col] + prior_precision[j, col]
                z[j] = noise[row, j]
            if not _cholesky_in_place(gram, d):
                out[row, :] = np.nan
                continue
            _forward_substitute(gram, x, d)
            _back_substitute(gram, x, d)
            _back_substitute(gram, z, d)
            for j in range(d):
                out[row, j] = x[j] + z[j]


def balanced_groups(indptr: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Deal rows into `n_groups` groups of near-equal work for `solve_rows`.

    Rating counts are heavy-tailed and popular rows often cluster in index
    space, so contiguous index ranges per thread are badly unbalanced (the
    thread holding the blockbusters finishes last).  Rows sorted by rating
    count are dealt in snake order (0..g-1, g-1..0, ...), which evens out
    both the number of rows and their total ratings per group.
    Returns (row_order, group_ptr), each group's rows in index order.
    """
    by_weight = np.argsort(-np.diff(indptr), kind="stable")
    lap = np.arange(by_weight.size) % (2 * n_groups)
    group = np.where(lap < n_groups, lap, 2 * n_groups - 1 - lap)
    # Within a group keep index order: neighbouring rows share cache lines.
    order = np.lexsort((by_weight, group))
    group_ptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=n_groups), out=group_ptr[1:])
    return by_weight[order].astype(np.int64), group_ptr
