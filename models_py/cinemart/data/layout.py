"""Recognise which MovieLens file layout a folder holds.

GroupLens has shipped three layouts over the years and the dbt staging models
read each differently, so the folder is inspected once here and the result is
handed to dbt as vars instead of every model guessing on its own.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Format = Literal["csv", "dat", "100k"]
Encoding = Literal["utf-8", "latin-1"]

# Files that must exist for a layout to match, in detection order.  The movies
# file is listed second because its encoding is what dbt needs to know.
REQUIRED_FILES: dict[Format, tuple[str, str]] = {
    "csv": ("ratings.csv", "movies.csv"),  # ml-latest-small, ml-25m, ml-32m
    "dat": ("ratings.dat", "movies.dat"),  # ml-1m, ml-10m ('::' separated)
    "100k": ("u.data", "u.item"),  # ml-100k (tab / pipe separated)
}
TAGS_FILE: dict[Format, str | None] = {"csv": "tags.csv", "dat": "tags.dat", "100k": None}
LINKS_FILE: dict[Format, str | None] = {"csv": "links.csv", "dat": None, "100k": None}

_DECODE_CHUNK = 1 << 20
#: The movies file's encoding, when the user knows better than detection (also the dbt var movies_encoding).
MOVIES_ENCODING_ENV = "CINEMART_MOVIES_ENCODING"
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "latin-1")


class DatasetLayoutError(ValueError):
    """A folder is not a MovieLens dataset this project can read."""


@dataclass(frozen=True)
class Layout:
    """What dbt must know about a dataset folder to read it."""

    format: Format
    data_dir: Path
    has_tags: bool
    has_links: bool
    movies_encoding: Encoding
    # True when the user set movies_encoding: the preflight then checks the file
    # against it instead of insisting that a CSV release is UTF-8.
    movies_encoding_given: bool = False

    def dbt_vars(self) -> dict[str, str | bool]:
        """The `--vars` dbt expects; keys are a contract with the staging models."""
        return {
            "data_dir": str(self.data_dir),
            "movielens_format": self.format,
            "movies_encoding": self.movies_encoding,
            "has_tags": self.has_tags,
            "has_links": self.has_links,
        }


def detect_layout(path: str | Path, *, movies_encoding: str | None = None) -> Layout:
    """Inspect `path` and describe its layout, or raise DatasetLayoutError.

    The first layout whose required files are all present wins; optional files
    (tags, links) only switch features on.  `movies_encoding` (the user's
    setting) replaces the detected encoding of the movies file.
    """
    folder = Path(path).resolve()
    if movies_encoding is not None and movies_encoding not in ENCODINGS:
        raise DatasetLayoutError(f"movies_encoding must be one of {', '.join(ENCODINGS)}, got {movies_encoding!r}")
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder} is not a directory")
    for fmt, required in REQUIRED_FILES.items():
        if all((folder / name).is_file() for name in required):
            return Layout(
                format=fmt,
                data_dir=folder,
                has_tags=_present(folder, TAGS_FILE[fmt]),
                has_links=_present(folder, LINKS_FILE[fmt]),
                movies_encoding=movies_encoding or _movies_encoding(folder / required[1]),  # type: ignore[arg-type]
                movies_encoding_given=movies_encoding is not None,
            )
    raise DatasetLayoutError(_no_match_message(folder))


def _present(folder: Path, name: str | None) -> bool:
    return name is not None and (folder / name).is_file()


def _movies_encoding(movies: Path) -> Encoding:
    """UTF-8 if the whole file decodes as UTF-8, else latin-1.

    Older releases (ml-100k u.item, ml-1m movies.dat) are ISO-8859-1; every
    byte sequence is valid latin-1, so that is the safe fallback.  Decoding
    incrementally keeps memory flat on the larger releases.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with movies.open("rb") as stream:
            while chunk := stream.read(_DECODE_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _no_match_message(folder: Path) -> str:
    missing = "; ".join(
        f"{fmt} layout needs {' + '.join(required)} (missing "
        f"{', '.join(name for name in required if not (folder / name).is_file())})"
        for fmt, required in REQUIRED_FILES.items()
    )
    return f"no known MovieLens layout in {folder}: {missing}"
