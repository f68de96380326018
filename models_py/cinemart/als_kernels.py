"""Numba kernels for one ALS half-step: re-solve every row of a CSR matrix.

The user step and the item step are the same computation on the rating
matrix and its transpose, so there is exactly one kernel, `solve_rows`.
Each row's least-squares problem is

    (sum_j y_j y_j^T + n_row * diag(reg_diag)) x = sum_j (t_j - offset_j) y_j

where y_j are the other side's feature rows (already augmented with a
constant 1 column in biased mode) and offset_j is the other side's bias.

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

# Rows are dealt out to this many blocks round-robin (block b takes rows
# b, b + N_BLOCKS, ...).  Popular items/users cluster in index space, so
# contiguous chunks would leave one thread with all the heavy rows; striding
# balances the load while each block still allocates its scratch only once.
N_BLOCKS = 512

# Same early-exit threshold as the `implicit` library's CG solver: once the
# squared residual norm is this small further steps only add rounding noise.
CG_RESIDUAL_EPS = 1e-20

_KERNEL_OPTIONS = {"cache": True, "fastmath": False, "nogil": True}


# Tiny helpers are inlined at numba-IR level: as separate functions the
# array-view arguments cost reference counting on every call (3x slower
# Cholesky at rank 64).
@njit(inline="always", **_KERNEL_OPTIONS)
def _dot(a, b, d):
    """Sequential dot product of the first `d` entries, typed like the inputs."""
    acc = a[0] * b[0]
    for j in range(1, d):
        acc += a[j] * b[j]
    return acc


@njit(inline="always", **_KERNEL_OPTIONS)
def _axpy_from(start, alpha, x, y):
    """y[start:] += alpha * x[start:].

    Indexing with uint64 spares numba's negative-index wraparound check,
    which otherwise keeps LLVM from vectorizing loops whose start varies
    (about 5x slower for the triangular loops below at rank 64).
    """
    for c in range(y.shape[0] - start):
        col = np.uint64(start + c)
        y[col] += alpha * x[col]


@njit(**_KERNEL_OPTIONS)
def _accumulate_normal_equations(start, end, indices, targets, offsets, features, gram, rhs):
    """Fill the upper triangle of sum y y^T and rhs = sum t y.

    Ratings are taken four at a time so each gram entry is loaded and stored
    once per four rank-1 updates (the loop is load/store bound otherwise);
    the fixed grouping keeps the summation order, hence the result,
    independent of threading.
    """
    d = features.shape[1]
    gram[:, :] = 0
    rhs[:] = 0
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
            rhs[j] += t0 * a0 + t1 * a1 + t2 * a2 + t3 * a3
            row = gram[j]
            for c in range(d - j):
                col = np.uint64(j + c)
                row[col] += a0 * y0[col] + a1 * y1[col] + a2 * y2[col] + a3 * y3[col]
        idx += 4
    while idx < end:
        y = features[indices[idx]]
        t = targets[idx] - offsets[indices[idx]]
        for j in range(d):
            rhs[j] += t * y[j]
            _axpy_from(j, y[j], y, gram[j])
        idx += 1


@njit(**_KERNEL_OPTIONS)
def _cholesky_solve_in_place(gram, rhs):
    """Solve gram x = rhs in place (x lands in rhs) via gram = U^T U.

    Right-looking factorization on the upper triangle so every inner loop
    walks a contiguous row.  Returns False when the matrix is not positive
    definite (only possible with reg = 0 and fewer ratings than unknowns).
    """
    d = rhs.shape[0]
    for j in range(d):
        pivot = gram[j, j]
        if not pivot > 0:
            return False
        diag = np.sqrt(pivot)
        gram[j, j] = diag
        for col in range(j + 1, d):
            gram[j, col] /= diag
        for i in range(j + 1, d):
            _axpy_from(i, -gram[j, i], gram[j], gram[i])
    # Forward substitution U^T z = rhs, column-oriented (contiguous rows of U).
    for i in range(d):
        zi = rhs[i] / gram[i, i]
        rhs[i] = zi
        _axpy_from(i + 1, -zi, gram[i], rhs)
    # Back substitution U x = z.
    for i in range(d - 1, -1, -1):
        acc = rhs[i]
        for col in range(i + 1, d):
            acc -= gram[i, col] * rhs[col]
        rhs[i] = acc / gram[i, i]
    return True


@njit(**_KERNEL_OPTIONS)
def _apply_row_operator(start, end, indices, features, reg_n, vec, out):
    """out = (sum_j y_j y_j^T + diag(reg_n)) vec without forming the matrix."""
    d = vec.shape[0]
    for j in range(d):
        out[j] = reg_n[j] * vec[j]
    for idx in range(start, end):
        y = features[indices[idx]]
        s = _dot(y, vec, d)
        for j in range(d):
            out[j] += s * y[j]


@njit(**_KERNEL_OPTIONS)
def _cg_solve(start, end, indices, targets, offsets, features, reg_n, cg_steps, x, r, p, ap):
    """Refine the warm start `x` in place with `cg_steps` conjugate-gradient steps.

    Warm-starting from the previous sweep's factors means a few steps per
    sweep suffice (as in `implicit`); the matrix-free product costs
    O(n_row * d) instead of the O(n_row * d^2) of forming normal equations.
    """
    d = x.shape[0]
    # r = b - A x, folding b = sum t y into the same pass as A x.
    for j in range(d):
        r[j] = -reg_n[j] * x[j]
    for idx in range(start, end):
        y = features[indices[idx]]
        s = targets[idx] - offsets[indices[idx]] - _dot(y, x, d)
        for j in range(d):
            r[j] += s * y[j]
    p[:] = r
    rs_old = _dot(r, r, d)
    for _ in range(cg_steps):
        if rs_old < CG_RESIDUAL_EPS:
            break
        _apply_row_operator(start, end, indices, features, reg_n, p, ap)
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
def solve_rows(indptr, indices, targets, offsets, features, reg_diag, warm_start, use_cg, cg_steps, out):
    """Solve every row's regularized least squares; write solutions into `out`.

    Args mirror one CSR matrix (indptr, indices, targets) of shape
    (n_rows, n_other) plus the other side's `features` (n_other, d) and
    `offsets` (n_other,).  `reg_diag` (d,) is lambda per unknown, scaled here
    by the row's rating count (ALS-WR).  `warm_start` (n_rows, d) seeds CG and
    is ignored by Cholesky.  Rows without ratings get all-zero solutions.
    A non-positive-definite system yields a NaN row for the caller to report.
    """
    n_rows = indptr.shape[0] - 1
    d = features.shape[1]
    n_blocks = min(n_rows, N_BLOCKS)
    for block in prange(n_blocks):
        gram = np.empty((d, d), dtype=features.dtype)
        rhs = np.empty(d, dtype=features.dtype)
        reg_n = np.empty(d, dtype=features.dtype)
        r = np.empty(d, dtype=features.dtype)
        p = np.empty(d, dtype=features.dtype)
        ap = np.empty(d, dtype=features.dtype)
        for row in range(block, n_rows, n_blocks):
            start = indptr[row]
            end = indptr[row + 1]
            if start == end:
                out[row, :] = 0
                continue
            for j in range(d):
                reg_n[j] = reg_diag[j] * (end - start)
            if use_cg:
                rhs[:] = warm_start[row]
                _cg_solve(start, end, indices, targets, offsets, features, reg_n, cg_steps, rhs, r, p, ap)
            else:
                _accumulate_normal_equations(start, end, indices, targets, offsets, features, gram, rhs)
                for j in range(d):
                    gram[j, j] += reg_n[j]
                if not _cholesky_solve_in_place(gram, rhs):
                    rhs[:] = np.nan
            out[row, :] = rhs
