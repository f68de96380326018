"""One dot product that is collaborative for well-rated movies and content for the rest.

For movie i with n_i ratings and minimum support T (var similar_movies_min_ratings):

    support weight  w_i = min(1, n_i / T)            (0 when the taste factors are all zero)
    candidate flag  s_j = 1 if n_j >= T else 0       (and non-zero taste factors)
    query     Q_i = [ w_i * unit(cf_i), (1 - w_i) * content_i ]
    candidate C_j = [ s_j * unit(cf_j),               content_j ]
    score(i, j) = Q_i . C_j = w_i s_j cos(cf_i, cf_j) + (1 - w_i) content_i . content_j

Both vectors end with one more column, popularity: 0 in every query but a
movie's that has neither a taste direction nor content (rated, say, only below
the implicit model's threshold, with no genre, year or tag), where it is 1; in
every candidate it is n_j / max n. Such a movie's list is thus the most-rated
candidates, `source` 'popular', rather than nothing; every other score is
unchanged (its query has 0 there).

A movie with T or more ratings (w = 1) therefore gets exactly the purely
collaborative list, among movies with >= T ratings: well-supported lists do not
change. Below T its own factors count for w of its score and content for the
rest, and a movie with no usable rating is placed by content alone; movies
under T are reachable as neighbours through content only. `source` names the
regime: collaborative (w = 1), content (w = 0), blend. Because the score is one
dot product, the blocked scorers of both engines and the SQL macros'
inner product serve it unchanged.

Every component is rounded to a multiple of 2^-20 (QUANTUM). Components are at
most 1 in size and |Q|, |C| <= ~1.5, so every product and every partial sum is
an exact float64: the score is the same bit for bit whatever order BLAS,
DuckDB or Spark add it in, and exact ties (movies with identical content, the
rule among unrated movies) break by movie_id on every engine. The rounding
moves a score by < 1e-5.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cinemart.data.ids import IdIndex
from cinemart.serving.scoring import SimilarItems, nearest, unit_rows
from cinemart.similarity.content import ContentVectors
from cinemart.validation import require_int

QUANTUM = 2.0 ** -20
SOURCES = ("collaborative", "blend", "content", "popular")


def quantized(vectors: np.ndarray) -> np.ndarray:
    """Rounded to multiples of QUANTUM, as float32 (exact: |x| <= 1 needs 21 bits)."""
    return (np.round(np.asarray(vectors, dtype=np.float64) / QUANTUM) * QUANTUM).astype(np.float32)


def support_weight(n_ratings: np.ndarray, has_direction: np.ndarray, threshold: float) -> np.ndarray:
    """w = min(1, n / threshold), 0 for a movie without a taste direction (all-zero factors)."""
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    weight = np.minimum(1.0, np.asarray(n_ratings, dtype=np.float64) / float(threshold))
    return np.where(np.asarray(has_direction, dtype=bool), weight, 0.0)


def source_of(weight: np.ndarray, popular: np.ndarray | None = None) -> np.ndarray:
    """'collaborative' (w = 1), 'content' (w = 0), 'blend', or 'popular' where `popular`, per movie."""
    weight = np.asarray(weight, dtype=np.float64)
    source = np.where(weight >= 1.0, "collaborative", np.where(weight <= 0.0, "content", "blend")).astype(object)
    if popular is not None:
        source[np.asarray(popular, dtype=bool)] = "popular"
    return source


def query_vectors(unit_cf: np.ndarray, content: np.ndarray, weight: np.ndarray,
                  popular: np.ndarray | None = None) -> np.ndarray:
    """Q with its popularity column: 1 where `popular` (no other signal), else 0."""
    weight = np.asarray(weight, dtype=np.float64)[:, None]
    flag = np.zeros_like(weight) if popular is None else np.asarray(popular, dtype=np.float64)[:, None]
    return quantized(np.hstack([weight * unit_cf, (1.0 - weight) * np.asarray(content, np.float64), flag]))


def candidate_vectors(unit_cf: np.ndarray, content: np.ndarray, is_supported: np.ndarray,
                      n_ratings: np.ndarray) -> np.ndarray:
    """C with its popularity column, n / max n."""
    flag = np.asarray(is_supported, dtype=np.float64)[:, None]
    counts = np.asarray(n_ratings, dtype=np.float64)
    popularity = counts / max(counts.max(initial=0.0), 1.0)
    return quantized(np.hstack([flag * unit_cf, np.asarray(content, np.float64), popularity[:, None]]))


class SimilarityVectors(NamedTuple):
    """Per catalogue movie: what its similar list is computed from (int_movie_similarity_vectors)."""

    movies: IdIndex  # the catalogue (content's movies), sorted
    n_ratings: np.ndarray  # int64, 0 for a movie without ratings
    unit_cf: np.ndarray  # float64 unit taste factors, zeros where none
    content: np.ndarray  # float32 content vectors
    weight: np.ndarray  # float64 support weight w
    query: np.ndarray  # float32 Q
    candidate: np.ndarray  # float32 C

    @property
    def is_query(self) -> np.ndarray:
        """Has a direction to search from (a non-zero Q)."""
        return np.any(self.query != 0, axis=1)

    @property
    def is_candidate(self) -> np.ndarray:
        """Has taste or content (popularity alone does not make a neighbour)."""
        return np.any(self.candidate[:, :-1] != 0, axis=1)

    @property
    def is_popular(self) -> np.ndarray:
        """Placed by popularity alone: no taste direction and no content."""
        return self.query[:, -1] != 0


def aligned_factors(catalogue: IdIndex, factor_movies: IdIndex, item_factors: np.ndarray,
                    movie_ratings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit taste factors, rating counts) on the catalogue's rows; zeros for movies the model never saw."""
    where = factor_movies.encode(catalogue.ids)
    found = where >= 0
    unit_cf = np.zeros((len(catalogue), item_factors.shape[1]))
    unit_cf[found] = unit_rows(item_factors[where[found]])
    n_ratings = np.zeros(len(catalogue), dtype=np.int64)
    n_ratings[found] = np.asarray(movie_ratings, dtype=np.int64)[where[found]]
    return unit_cf, n_ratings


def similarity_vectors(content: ContentVectors, factor_movies: IdIndex, item_factors: np.ndarray,
                       movie_ratings: np.ndarray, threshold: int) -> SimilarityVectors:
    """Q and C (module docstring) for every movie of the catalogue, from the taste model's factors."""
    require_int("similar_movies_min_ratings", threshold, 1)
    unit_cf, n_ratings = aligned_factors(content.movies, factor_movies, item_factors, movie_ratings)
    has_direction = np.any(unit_cf != 0, axis=1)
    weight = support_weight(n_ratings, has_direction, threshold)
    no_signal = ~has_direction & ~np.any(np.asarray(content.vectors) != 0, axis=1)
    return SimilarityVectors(content.movies, n_ratings, unit_cf, content.vectors, weight,
                             query_vectors(unit_cf, content.vectors, weight, no_signal),
                             candidate_vectors(unit_cf, content.vectors, has_direction & (n_ratings >= threshold),
                                               n_ratings))


def blended_similar(vectors: SimilarityVectors, n: int = 10) -> SimilarItems:
    """Top-n by Q_i . C_j for every movie with a query direction, among candidates, itself excluded.

    `item` / `similar_item` index `vectors.movies`.
    """
    queries = np.flatnonzero(vectors.is_query)
    found = nearest(vectors.query[queries], vectors.candidate, queries, n, allowed=vectors.is_candidate)
    return found._replace(item=queries[found.item].astype(np.int32))
