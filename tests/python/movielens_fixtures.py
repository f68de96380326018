"""Small MovieLens-format folders written by the tests themselves.

MovieLens files may not be committed (GroupLens licence), and ml-100k / ml-1m
are not available here at all, so each layout is reproduced in miniature with
its real quirks: CRLF and quoted titles in the CSV release, '::' and latin-1 in
the .dat releases, tab-separated u.data and pipe-separated latin-1 u.item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GENRES = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Drama", "Sci-Fi", "Thriller", "Romance"]


@dataclass
class Fixture:
    """A written dataset folder and what the tests expect of it."""

    path: Path
    n_source_ratings: int
    n_movies: int
    expected_quarantine: dict[str, int] = field(default_factory=dict)

    @property
    def n_clean_ratings(self) -> int:
        return self.n_source_ratings - sum(self.expected_quarantine.values())


def _clean_ratings(n_users: int, n_movies: int, seed: int) -> list[tuple[int, int, float, int]]:
    """Deterministic ratings with a low-rank taste structure, every user >= 8 ratings."""
    rng = np.random.default_rng(seed)
    taste_u = rng.normal(size=(n_users, 2))
    taste_m = rng.normal(size=(n_movies, 2))
    rows = []
    for u in range(n_users):
        count = int(rng.integers(8, min(n_movies, 25)))
        movies = rng.choice(n_movies, size=count, replace=False)
        for m in sorted(movies):
            score = 3.5 + 0.7 * float(taste_u[u] @ taste_m[m]) + rng.normal(scale=0.3)
            stars = float(np.clip(np.round(score * 2) / 2, 0.5, 5.0))
            rows.append((u + 1, int(m) + 1, stars, 1_000_000_000 + u * 1000 + int(m)))
    return rows


def _titles(n_movies: int) -> list[str]:
    titles = []
    for m in range(1, n_movies + 1):
        if m == 1:
            titles.append("Toy Story (1995)")
        elif m == 2:
            titles.append('"Great Escape, The (1963)"')  # quoted, comma inside
        elif m == 3:
            titles.append("Café Society (2016)")  # non-ASCII
        elif m == 4:
            titles.append("Hyena Road")  # no year
        else:
            titles.append(f"Movie {m} ({1950 + m % 60})")
    return titles


def write_csv_dataset(folder: Path, *, n_users: int = 40, n_movies: int = 60, seed: int = 7,
                      hostile: bool = True) -> Fixture:
    """ml-latest-small layout (CRLF), optionally with one bad rating row per validation rule."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = _clean_ratings(n_users, n_movies, seed)
    lines = [f"{u},{m},{r:.1f},{t}" for u, m, r, t in ratings]
    expected: dict[str, int] = {}
    if hostile:
        u0, m0, r0, t0 = ratings[0]
        bad = {
            "wrong_field_count": ["5,7", "5,7,4.0,1000000000,extra"],
            "missing_field": ["5,,4.0,1000000000"],
            "unparseable_user_id": ["x5,7,4.0,1000000000"],
            "unparseable_movie_id": ["5,seven,4.0,1000000000"],
            "unparseable_rating": ["5,7,four,1000000000"],
            "unparseable_timestamp": ["5,7,4.0,yesterday"],
            "user_id_not_positive": ["-5,7,4.0,1000000000"],
            "rating_out_of_range": ["5,7,6.0,1000000000", "5,8,0.0,1000000000"],
            "rating_off_half_star_grid": ["5,7,4.25,1000000000"],
            "timestamp_out_of_range": ["5,7,4.0,99999999999999"],
            "movie_not_in_movies": [f"5,{n_movies + 1000},4.0,1000000000"],
            # an earlier rating of the same (user, movie): the later one in `lines` wins
            "duplicate_superseded_by_later_rating": [f"{u0},{m0},{r0:.1f},{t0 - 100}"],
        }
        for reason, rows in bad.items():
            lines.extend(rows)
            expected[reason] = len(rows)
    crlf = "\r\n"
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp" + crlf + crlf.join(lines) + crlf, encoding="utf-8")
    titles = _titles(n_movies)
    movies = [f"{m},{titles[m - 1]},{'|'.join(GENRES[(m + k) % len(GENRES)] for k in range(1 + m % 3))}" for m in range(1, n_movies + 1)]
    movies[-1] = f"{n_movies},Movie {n_movies} (2001),(no genres listed)"
    (folder / "movies.csv").write_text("movieId,title,genres" + crlf + crlf.join(movies) + crlf, encoding="utf-8")
    tags = ["1,1,pixar,1000000001", '2,2,"funny, clever",1000000002', "3,1,Pixar ,1000000003"]
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp" + crlf + crlf.join(tags) + crlf, encoding="utf-8")
    links = [f"{m},{m:07d},{'' if m % 10 == 0 else m + 800}" for m in range(1, n_movies + 1)]
    (folder / "links.csv").write_text("movieId,imdbId,tmdbId" + crlf + crlf.join(links) + crlf, encoding="utf-8")
    return Fixture(folder, len(lines), n_movies, expected)


def write_dat_dataset(folder: Path, *, n_users: int = 30, n_movies: int = 40, seed: int = 11) -> Fixture:
    """ml-1m layout: '::'-separated, latin-1 movies.dat, integer stars, no tags or links."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = _clean_ratings(n_users, n_movies, seed)
    lines = [f"{u}::{m}::{max(1, int(round(r)))}::{t}" for u, m, r, t in ratings]
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="ascii")
    titles = [t.strip('"') for t in _titles(n_movies)]
    movies = [f"{m}::{titles[m - 1]}::{GENRES[m % len(GENRES)]}|{GENRES[(m + 3) % len(GENRES)]}" for m in range(1, n_movies + 1)]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n", encoding="ascii")
    return Fixture(folder, len(lines), n_movies)


def write_100k_dataset(folder: Path, *, n_users: int = 30, n_movies: int = 40, seed: int = 13) -> Fixture:
    """ml-100k layout: tab-separated u.data without header, pipe-separated latin-1 u.item with 19 genre flags."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = _clean_ratings(n_users, n_movies, seed)
    lines = [f"{u}\t{m}\t{max(1, int(round(r)))}\t{t}" for u, m, r, t in ratings]
    (folder / "u.data").write_text("\n".join(lines) + "\n", encoding="ascii")
    titles = [t.strip('"') for t in _titles(n_movies)]
    items = []
    for m in range(1, n_movies + 1):
        flags = ["0"] * 19
        if m == n_movies:
            flags[0] = "1"  # 'unknown' genre only
        else:
            flags[1 + m % 18] = "1"
            flags[1 + (m + 5) % 18] = "1"
        items.append("|".join([str(m), titles[m - 1], "01-Jan-1995", "", f"http://us.imdb.com/M/title-exact?{m}", *flags]))
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    return Fixture(folder, len(lines), n_movies)
