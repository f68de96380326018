"""Explicit-feedback ALS-WR (alternating least squares, weighted-lambda).

The model follows Spark MLlib's explicit ALS: each user/item solve is
regularized by lambda times that user's/item's number of ratings, so heavy
raters are not under-regularized relative to light ones and one lambda works
across data-set sizes.  On top of Spark's model the default `biased` mode
adds a global mean and per-user/per-item biases,

    r_ui ~ mu + b_u + b_i + p_u . q_i,

solved jointly with the factors by augmenting the unknowns: the user step
solves [p_u, b_u] against item features [q_i, 1] with target
r_ui - mu - b_i, and the item step is the mirror image.  Biases therefore
cost one extra column, not a separate optimization pass.  `biased=False`
("plain") is exactly Spark's model, kept for parity with the Spark notebook.

Cold-start rule: a user or item with no training ratings gets zero factors
and zero bias, so its predictions fall back to mu plus whatever bias of the
other side is known.

`method="bayesian"` samples the same model instead of solving for its mode
(`cinemart.models.bayesian_als`); `ALSConfig` describes both, and
`cinemart.models.explicit.explicit_model` picks the class.
`time_biases=True` adds Koren's time terms (`cinemart.models.time_biases`),
fitted before either model by `cinemart.models.explicit.fit_explicit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp

from cinemart.models.als_kernels import balanced_groups, solve_rows
from cinemart.models.base import Factors, pair_dots
from cinemart.models.threads import cpu_slot, threads_for
from cinemart.validation import index_array, require_int, require_number

SOLVERS = ("cholesky", "cg")
DTYPES = ("float32", "float64")
METHODS = ("als", "bayesian")


class ALSDivergedError(RuntimeError):
    """A fit produced NaN/inf factors (typically reg=0 on too few ratings)."""


@dataclass(frozen=True)
class ALSConfig:
    """Hyper-parameters of one ALS fit; validated on construction so a bad
    grid or CLI value fails before any data is touched."""

    rank: int = 10
    reg: float = 0.1
    iterations: int = 10
    biased: bool = True
    bias_reg: float | None = None  # None -> same as reg
    solver: str = "cholesky"  # or "cg"
    cg_steps: int = 2  # CG steps a sweep: 3 (implicit's default) took 1.2x the time for test RMSE 0.55955 against
    # 0.55960 (rank 50, synthetic 25M), and the sampled grid chose the same point (benchmarks/RESULTS.md)
    dtype: str = "float32"
    seed: int = 0
    rating_min: float = 0.5
    rating_max: float = 5.0
    method: str = "als"  # or "bayesian": Gibbs sampling, `iterations` sweeps of which the first `burn_in` are discarded
    burn_in: int = 0
    time_biases: bool = False  # Koren's time terms first, the factor model on what they leave (`cinemart.models.explicit`)

    def __post_init__(self) -> None:
        require_int("rank", self.rank, 1)
        require_number("reg", self.reg, lambda v: v >= 0, ">= 0")
        require_int("iterations", self.iterations, 1)
        for flag in ("biased", "time_biases"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.bias_reg is not None:
            require_number("bias_reg", self.bias_reg, lambda v: v >= 0, ">= 0")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        require_int("cg_steps", self.cg_steps, 1)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        require_int("seed", self.seed, 0)
        for name in ("rating_min", "rating_max"):
            require_number(name, getattr(self, name))
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        require_int("burn_in", self.burn_in, 0)
        if self.method == "als" and self.burn_in:
            raise ValueError(f"burn_in applies to method 'bayesian' only, got burn_in={self.burn_in} with method 'als'")
        if self.method == "bayesian" and self.burn_in >= self.iterations:
            raise ValueError(f"method 'bayesian' needs iterations > burn_in to keep a sample, got "
                             f"iterations={self.iterations}, burn_in={self.burn_in}")
        if self.method == "bayesian" and self.solver != "cholesky":
            raise ValueError(f"method 'bayesian' draws through the Cholesky factor; solver {self.solver!r} "
                             "applies to method 'als' only")
        if not self.rating_min < self.rating_max:
            raise ValueError(
                f"rating_min must be < rating_max, got rating_min={self.rating_min!r}, rating_max={self.rating_max!r}"
            )

    @property
    def effective_bias_reg(self) -> float:
        return self.reg if self.bias_reg is None else self.bias_reg

    @property
    def n_columns(self) -> int:
        """Unknowns per user or item: the factors, plus the bias in biased mode."""
        return self.rank + self.biased

    def checkpoint_list(self, checkpoints: Iterable[int], on_checkpoint: Callable | None) -> list[int]:
        """The (1-based, sorted) iterations a fit reports at; a Bayesian checkpoint must follow burn-in."""
        wanted = sorted(set(checkpoints))
        for it in wanted:
            require_int("checkpoint", it, self.burn_in + 1)
            if it > self.iterations:
                raise ValueError(f"checkpoint {it} exceeds iterations={self.iterations}")
        if wanted and on_checkpoint is None:
            raise ValueError("checkpoints were given without an on_checkpoint callback")
        return wanted

    def initial_state(self, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
        """Seeded N(0, 1/rank) factors (Spark-like unit-norm scale), zero biases.

        Only the item side matters for Cholesky (the first step solves
        users); CG also warm-starts the first user step from the user side.
        """
        rng = np.random.default_rng(self.seed)
        states = []
        for n_rows in (n_users, n_items):
            state = np.zeros((n_rows, self.n_columns), dtype=self.dtype)
            state[:, : self.rank] = rng.standard_normal((n_rows, self.rank)) / math.sqrt(self.rank)
            states.append(state)
        return states[0], states[1]


def bias_features(other: np.ndarray, biased: bool) -> tuple[np.ndarray, np.ndarray]:
    """The other side's state as (features, offsets) for a half-step.

    In biased mode the other side's bias moves into the target as an offset
    and its slot becomes the constant-1 feature that multiplies our own bias.
    """
    if not biased:
        return other, np.zeros(other.shape[0], dtype=other.dtype)
    features = other.copy()
    features[:, -1] = 1
    return features, np.ascontiguousarray(other[:, -1])


def centred_rows(users: np.ndarray, items: np.ndarray, values: np.ndarray, n_users: int, n_items: int,
                 config: ALSConfig) -> tuple[float, _RatingRows, _RatingRows]:
    """The global mean (0 in plain mode) and both orientations of the centred rating matrix."""
    mean = float(values.mean()) if config.biased else 0.0
    by_user = sp.csr_matrix(((values - mean).astype(config.dtype), (users, items)), shape=(n_users, n_items))
    if by_user.nnz != values.size:
        raise ValueError(f"{values.size - by_user.nnz} duplicate (user, item) pairs; each pair must be rated once")
    return mean, _RatingRows.from_csr(by_user), _RatingRows.from_csr(by_user.T.tocsr())


def finite_or_raise(solved: np.ndarray, side: str, it: int, config: ALSConfig) -> np.ndarray:
    """`solved` if every value is finite; else one error naming the side, the sweep and, for ALS, the remedy."""
    if not np.isfinite(solved).all():
        remedy = ("increase reg (reg=0 cannot handle users/items with fewer ratings than unknowns)"
                  if config.method == "als" else "its prior precision was not positive definite")
        raise ALSDivergedError(f"{config.method} produced non-finite {side} factors in iteration {it} with {config}; "
                               f"{remedy}")
    return solved


@dataclass(frozen=True)
class _RatingRows:
    """One orientation of the rating matrix as the kernel consumes it."""

    indptr: np.ndarray
    indices: np.ndarray
    targets: np.ndarray  # rating - global mean, in the model dtype
    _groups: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix) -> _RatingRows:
        # One index dtype for every call so numba compiles (and caches) one
        # specialization instead of one per scipy index-width choice.
        return cls(matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), matrix.data)

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        """(row_order, group_ptr): the rows in one equal-work group per thread numba runs now (the slot's grant,
        `balanced_groups`), made once per thread count."""
        n_groups = numba.get_num_threads()
        if n_groups not in self._groups:
            self._groups[n_groups] = balanced_groups(self.indptr, n_groups)
        return self._groups[n_groups]


def validate_ratings(
    user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check rating triples and return them as (int64, int64, float64) arrays.

    Shared by `ExplicitALS.fit` and the tuning code so a bad input fails
    with the same message before any work is done.
    """
    require_int("n_users", n_users, 1)
    require_int("n_items", n_items, 1)
    users = index_array("user_idx", user_idx, n_users)
    items = index_array("item_idx", item_idx, n_items)
    values = np.asarray(ratings, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"ratings must be 1-D, got shape {values.shape}")
    if not users.size == items.size == values.size:
        raise ValueError(
            f"user_idx, item_idx and ratings must have equal lengths, got {users.size}, {items.size}, {values.size}"
        )
    if values.size == 0:
        raise ValueError("cannot fit on zero ratings")
    if not np.isfinite(values).all():
        raise ValueError(f"ratings contain {int((~np.isfinite(values)).sum())} NaN/inf values")
    return users, items, values


class ExplicitALS:
    """ALS-WR model; see the module docstring for the model and cold-start rule.

    After `fit`, `user_factors` (n_users, rank), `item_factors`,
    `user_bias` (n_users,), `item_bias` and `global_mean` describe the model
    (biases and mean are zero in plain mode).  Every half-step allocates
    fresh arrays, so references taken in an `on_checkpoint` callback stay a
    faithful snapshot of that iteration.
    """

    def __init__(self, config: ALSConfig):
        if not isinstance(config, ALSConfig):
            raise TypeError(f"config must be an ALSConfig, got {type(config).__name__}")
        self.config = config
        self.global_mean = 0.0
        # Augmented state: columns [factors..., bias] in biased mode.
        self._users: np.ndarray | None = None
        self._items: np.ndarray | None = None
        self._fit_threads = 0  # the most threads a sweep of the last fit ran on (its slot's grant)

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        ratings: np.ndarray,
        n_users: int,
        n_items: int,
        checkpoints: Iterable[int] = (),
        on_checkpoint: Callable[[int, ExplicitALS], None] | None = None,
    ) -> ExplicitALS:
        """Fit on dense 0-based indices; call `on_checkpoint(it, self)` after
        each listed (1-based) iteration so one trajectory can be scored at
        several iteration counts."""
        cfg = self.config
        users, items, values = validate_ratings(user_idx, item_idx, ratings, n_users, n_items)
        wanted = cfg.checkpoint_list(checkpoints, on_checkpoint)
        return self._fit(users, items, values, n_users, n_items, threads_for(values.size * cfg.n_columns ** 2),
                         wanted, on_checkpoint)

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray, n_users: int, n_items: int,
             threads: int, wanted: list[int], on_checkpoint: Callable[[int, ExplicitALS], None] | None) -> ExplicitALS:
        """A fit granted fewer threads than `threads` asks the process budget again after every sweep
        (`cpu_slot`): one that starts beside another fit on one thread takes both once the other is done,
        instead of keeping one for its whole length (at 25M ratings a refit ran ~30 s on one of two idle
        cores). A full grant is kept to the end, so a fit never gives up its threads between sweeps to one
        that would hold them longer. Rows are independent and grouped only for load balance, so the grant
        changes the speed, never the result."""
        cfg = self.config
        if cfg.method != "als":
            raise ValueError(f"ExplicitALS fits method 'als'; method {cfg.method!r} is "
                             "cinemart.models.explicit.explicit_model's to dispatch")
        self._fit_threads = 0
        mean, user_rows, item_rows = centred_rows(users, items, values, n_users, n_items, cfg)
        reg_diag = np.full(cfg.n_columns, cfg.reg, dtype=cfg.dtype)
        if cfg.biased:
            reg_diag[-1] = cfg.effective_bias_reg
        self.global_mean = mean
        self._users, self._items = cfg.initial_state(n_users, n_items)

        it = 1
        while it <= cfg.iterations:
            with cpu_slot(threads) as granted:
                self._fit_threads = max(self._fit_threads, numba.get_num_threads())
                while it <= cfg.iterations:
                    self._users = self._half_step(user_rows, self._items, self._users, reg_diag, it, "user")
                    self._items = self._half_step(item_rows, self._users, self._items, reg_diag, it, "item")
                    if it in wanted:
                        on_checkpoint(it, self)
                    it += 1
                    if granted < threads:
                        break
        return self

    def fit_factors(self, user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray,
                    n_users: int, n_items: int) -> Factors:
        """The `cinemart.models.base.FactorModel` contract."""
        return self.fit(user_idx, item_idx, ratings, n_users, n_items).factors()

    def factors(self) -> Factors:
        """The fitted model as `Factors` (float32, as served; biases zero in plain mode)."""
        sides = (self.user_factors, self.item_factors, self.user_bias, self.item_bias)
        return Factors(*(np.ascontiguousarray(side, dtype=np.float32) for side in sides), float(self.global_mean))

    def _half_step(
        self, rows: _RatingRows, other: np.ndarray, own: np.ndarray, reg_diag: np.ndarray, it: int, side: str
    ) -> np.ndarray:
        """Re-solve one side given the other; returns a new array (see class docstring)."""
        cfg = self.config
        features, offsets = bias_features(other, cfg.biased)
        solved = np.empty_like(own)
        solve_rows(rows.indptr, rows.indices, rows.targets, *rows.groups(), offsets, features, reg_diag, own,
                   cfg.solver == "cg", cfg.cg_steps, solved)
        return finite_or_raise(solved, side, it, cfg)

    # ------------------------------------------------------------- predict
    def predict(self, user_idx: np.ndarray, item_idx: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
        """Predicted ratings (float64), plus `offsets` if given (time terms), clipped to [rating_min, rating_max].

        Cold users/items (no training ratings) have zero factors and bias, so
        they score mu plus the other side's bias; indices outside the fitted
        n_users/n_items are an error, not a cold start.
        """
        users_state, items_state = self._fitted_state()
        users = index_array("user_idx", user_idx, users_state.shape[0])
        items = index_array("item_idx", item_idx, items_state.shape[0])
        if users.size != items.size:
            raise ValueError(f"user_idx and item_idx must have equal lengths, got {users.size} and {items.size}")
        k = self.config.rank
        scores = pair_dots(users_state[:, :k], items_state[:, :k], users, items)
        scores += self.global_mean
        if self.config.biased:
            scores += users_state[users, k]
            scores += items_state[items, k]
        if offsets is not None:
            scores += offsets
        return np.clip(scores, self.config.rating_min, self.config.rating_max)

    # ---------------------------------------------------------- attributes
    def _fitted_state(self) -> tuple[np.ndarray, np.ndarray]:
        if self._users is None or self._items is None:
            raise RuntimeError("ExplicitALS is not fitted; call fit() first")
        return self._users, self._items

    def _bias(self, state: np.ndarray) -> np.ndarray:
        if self.config.biased:
            return state[:, self.config.rank]
        return np.zeros(state.shape[0], dtype=state.dtype)

    @property
    def user_factors(self) -> np.ndarray:
        return self._fitted_state()[0][:, : self.config.rank]

    @property
    def item_factors(self) -> np.ndarray:
        return self._fitted_state()[1][:, : self.config.rank]

    @property
    def user_bias(self) -> np.ndarray:
        return self._bias(self._fitted_state()[0])

    @property
    def item_bias(self) -> np.ndarray:
        return self._bias(self._fitted_state()[1])
