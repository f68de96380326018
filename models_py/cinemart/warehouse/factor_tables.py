"""`Factors` <-> the long factor tables (als_factors, implicit_factors, popularity_factors).

One row per user and per movie: run_id, entity ('user' | 'movie'), id (the
MovieLens id), bias, factors (FLOAT[k]), n_ratings, global_mean. The four public
factor tables are views of this shape (macros/factor_view.sql), and the SQL
macros score straight from it; serving reads it back here, so the materialized
lists and the macros start from exactly the same float32 numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cinemart.data.ids import IdIndex
from cinemart.data.ratings import IndexedRatings, SplitRatings
from cinemart.models.base import Factors


def factor_column(factors: np.ndarray) -> pa.FixedSizeListArray:
    """(n, k) -> FLOAT[k] column (DuckDB reads an Arrow fixed-size list as an ARRAY)."""
    flat = pa.array(np.ascontiguousarray(factors, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, factors.shape[1])


def factor_table(run_id: str, ratings: IndexedRatings, factors: Factors) -> pa.Table:
    """The long table of a model fitted on `ratings` (its indices decode to MovieLens ids)."""
    n_users, n_movies = len(ratings.users), len(ratings.movies)
    n = n_users + n_movies
    return pa.table({
        "run_id": pa.array([run_id] * n, pa.string()),  # typed: an empty table (EASE skipped) keeps the contract
        "entity": pa.array(["user"] * n_users + ["movie"] * n_movies, pa.string()),
        "id": np.concatenate([ratings.users.ids, ratings.movies.ids]),
        "bias": np.concatenate([factors.user_bias, factors.item_bias]).astype(np.float32),
        "factors": factor_column(np.vstack([factors.user_factors, factors.item_factors])),
        "n_ratings": np.concatenate([np.bincount(ratings.user_idx, minlength=n_users),
                                     np.bincount(ratings.movie_idx, minlength=n_movies)]),
        "global_mean": np.full(n, factors.global_mean),
    })


def empty_factor_table(data: SplitRatings, run_id: str) -> pa.Table:
    """A factor table with no rows, in the factor tables' columns: a model not fitted (EASE past its budget, and
    so the blend; explicit ALS on implicit feedback)."""
    nothing = Factors(np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32), np.zeros(0, np.float32),
                      np.zeros(0, np.float32))
    return factor_table(run_id, IndexedRatings.build(data, np.zeros(data.rating.size, bool)), nothing)


@dataclass(frozen=True)
class ServedFactors:
    """A long factor table loaded back: `Factors` on sorted ids, plus who made them."""

    model_name: str
    run_id: str
    users: IdIndex
    movies: IdIndex
    factors: Factors
    movie_ratings: np.ndarray  # ratings per movie the factors were fitted on

    @classmethod
    def from_table(cls, model_name: str, table: pa.Table) -> ServedFactors:
        entity = np.asarray(table.column("entity").to_numpy(zero_copy_only=False))
        ids = table.column("id").to_numpy()
        k = table.schema.field("factors").type.list_size
        vectors = table.column("factors").combine_chunks().flatten().to_numpy().reshape(-1, k)
        bias = table.column("bias").to_numpy()
        mean = table.column("global_mean").to_numpy()
        sides = []
        for side in (entity == "user", entity == "movie"):
            order = np.argsort(ids[side], kind="stable")
            sides.append((ids[side][order], vectors[side][order], bias[side][order], order))
        (user_ids, p, b_u, _), (movie_ids, q, b_i, movie_order) = sides
        factors = Factors(p, q, b_u, b_i, float(mean[0]) if mean.size else 0.0)
        return cls(model_name, str(table.column("run_id")[0]), IdIndex(user_ids), IdIndex(movie_ids), factors,
                   table.column("n_ratings").to_numpy()[entity == "movie"][movie_order])

    def aligned(self, users: IdIndex, movies: IdIndex) -> Factors:
        """The factors re-ordered to another index's users and movies (all must be present)."""
        rows, cols = self.users.encode(users.ids), self.movies.encode(movies.ids)
        if (rows < 0).any() or (cols < 0).any():
            raise ValueError(f"{self.model_name} factors do not cover the requested users and movies")
        f = self.factors
        return Factors(f.user_factors[rows], f.item_factors[cols], f.user_bias[rows], f.item_bias[cols],
                       f.global_mean)
