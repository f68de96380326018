"""File-level checks on a MovieLens folder, run before dbt reads it.

The staging models quarantine bad *rows* with a reason, but some damage is to a
whole *file*: a missing or wrong header, text in the wrong encoding, a binary or
compressed file, a line too long for the CSV reader, a quoted field that never
closes.  DuckDB would stop the load with a parser dump (or, for an unclosed
quote, quietly read the rest of the file as one value), so each is turned into
one sentence naming the file, the line and the fix.

Files are streamed in 1 MiB chunks through byte-level scans (memchr, the C
UTF-8 decoder), so a 700 MB ratings file takes about a second and flat memory.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cinemart.data.layout import LINKS_FILE, MOVIES_ENCODING_ENV, REQUIRED_FILES, TAGS_FILE, Layout

CHUNK_BYTES = 1 << 20
# DuckDB's read_csv max_line_size default: a longer line fails the whole load.
# Chunks are no larger, so only a line spanning chunks can exceed it.
MAX_LINE_BYTES = 2_097_152
NEWLINE = b"\n"

# The CSV releases' headers, as GroupLens documents them.
CSV_HEADERS: dict[str, tuple[str, ...]] = {
    "ratings.csv": ("userId", "movieId", "rating", "timestamp"),
    "movies.csv": ("movieId", "title", "genres"),
    "tags.csv": ("userId", "movieId", "tag", "timestamp"),
    "links.csv": ("movieId", "imdbId", "tmdbId"),
}

# Signatures of files that are plainly not text, checked before anything else
# so the message says what the file is instead of "invalid UTF-8 at byte 1".
_NOT_TEXT_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip archive; unpack it first"),
    (b"PK\x03\x04", "a zip archive; unpack it first"),
    (b"\xff\xfe", "UTF-16 text; re-encode it as UTF-8 (iconv -f utf-16 -t utf-8)"),
    (b"\xfe\xff", "UTF-16 text; re-encode it as UTF-8 (iconv -f utf-16 -t utf-8)"),
)


class PreflightError(ValueError):
    """A dataset file cannot be read as MovieLens data; the message says where and why."""


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed, with its line count: counted apart from DuckDB, so rows in can be checked against it."""

    path: Path
    n_lines: int  # physical lines, header included; a quoted title may span two

    @property
    def n_data_lines(self) -> int:
        return self.n_lines - (1 if self.path.name in CSV_HEADERS else 0)


@dataclass(frozen=True)
class PreflightReport:
    files: tuple[CheckedFile, ...]


@dataclass(frozen=True)
class _Expected:
    """What one file of the layout must look like."""

    name: str
    encoding: str
    needs_rows: bool  # ratings and movies: a build without them is meaningless
    encoding_settable: bool = False  # the movies file: movies_encoding can say how to read it

    @property
    def header(self) -> tuple[str, ...] | None:
        return CSV_HEADERS.get(self.name)

    @property
    def quoted(self) -> bool:
        """Only the CSV releases quote fields (and so can leave a quote open)."""
        return self.name in CSV_HEADERS and self.name != "ratings.csv"


def check_dataset(layout: Layout) -> PreflightReport:
    """Check every file `layout` promises, in the order dbt reads them; raise PreflightError on the first problem."""
    return PreflightReport(tuple(_check_file(layout.data_dir / e.name, e) for e in _expected_files(layout)))


def _expected_files(layout: Layout) -> list[_Expected]:
    ratings, movies = REQUIRED_FILES[layout.format]
    # The CSV releases are UTF-8 by specification: the latin-1 fallback that
    # suits ml-1m's movies.dat would turn every correct accent into mojibake,
    # so only a user's explicit movies_encoding setting reads one as latin-1.
    detected_only = layout.format == "csv" and not layout.movies_encoding_given
    movies_encoding = "utf-8" if detected_only else layout.movies_encoding
    files = [_Expected(ratings, "utf-8", True), _Expected(movies, movies_encoding, True, encoding_settable=True)]
    optional = [(layout.has_tags, TAGS_FILE[layout.format]), (layout.has_links, LINKS_FILE[layout.format])]
    files += [_Expected(name, "utf-8", False) for present, name in optional if present and name]
    return files


def _check_file(path: Path, expected: _Expected) -> CheckedFile:
    if not path.is_file():
        raise PreflightError(f"{path}: file is missing")
    with path.open("rb") as stream:
        n_lines = _scan(stream, path, expected)
    if expected.quoted:
        _check_quotes(path)
    return CheckedFile(path, n_lines)


def _scan(stream: BinaryIO, path: Path, expected: _Expected) -> int:
    """Header, encoding, NUL bytes, line lengths and data presence in one pass; returns the line count."""
    first = stream.readline(MAX_LINE_BYTES + 1)
    for signature, what in _NOT_TEXT_SIGNATURES:
        if first.startswith(signature):
            raise PreflightError(f"{path}: this is {what}")
    if not first:
        wanted = f'a header line "{",".join(expected.header)}"' if expected.header else "data lines"
        raise PreflightError(f"{path}: file is empty; expected {wanted}")
    decoder = codecs.getincrementaldecoder("utf-8")() if expected.encoding == "utf-8" else None
    settable = expected.encoding_settable
    _check_bytes(first, decoder, path, offset=0, line=1, settable=settable)
    if len(first) > MAX_LINE_BYTES:
        raise _too_long(path, 1)
    if expected.header:
        _check_header(first.decode(expected.encoding), path, expected.header)
    has_rows = not expected.header and bool(first.strip())

    offset, line = len(first), 1 + first.count(NEWLINE)  # where the next chunk starts
    run = 0 if first.endswith(NEWLINE) else len(first)  # bytes since the last newline
    while chunk := stream.read(CHUNK_BYTES):
        _check_bytes(chunk, decoder, path, offset, line, settable=settable)
        first_newline = chunk.find(NEWLINE)
        if run + (first_newline if first_newline >= 0 else len(chunk)) > MAX_LINE_BYTES:
            raise _too_long(path, line)
        run = run + len(chunk) if first_newline < 0 else len(chunk) - chunk.rfind(NEWLINE) - 1
        has_rows = has_rows or bool(chunk.strip())
        line += chunk.count(NEWLINE)
        offset += len(chunk)
    if decoder is not None:
        _check_bytes(b"", decoder, path, offset, line, final=True, settable=settable)
    if expected.needs_rows and not has_rows:
        where = "after the header" if expected.header else "in the file"
        raise PreflightError(f"{path}: no data rows {where}")
    return line if run else line - 1


def _too_long(path: Path, line: int) -> PreflightError:
    return PreflightError(f"{path} line {line}: longer than {MAX_LINE_BYTES:,} bytes; "
                          f"this is not a MovieLens text file")


def _check_bytes(chunk: bytes, decoder: codecs.IncrementalDecoder | None, path: Path, offset: int, line: int,
                 *, final: bool = False, settable: bool = False) -> None:
    """Raise on the first NUL byte or invalid UTF-8 sequence in `chunk`, whichever comes first.

    `offset` and `line` locate the chunk's first byte in the file; the decoder
    carries a multi-byte sequence cut by the chunk boundary into the next call.
    """
    nul = chunk.find(b"\0")
    if decoder is not None:
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(chunk if nul < 0 else chunk[:nul], final=final)
        except UnicodeDecodeError as exc:
            at = exc.start - pending  # position in chunk; negative inside the carried bytes
            bad = " ".join(f"0x{byte:02X}" for byte in exc.object[exc.start:exc.end])
            raise PreflightError(
                f"{path} line {line + chunk.count(NEWLINE, 0, max(at, 0))}, byte offset {offset + at}: "
                f"{bad} is not UTF-8, which this file must be; "
                f"it looks like {_likely_encoding(exc.object[exc.start], settable)}"
            ) from None
    if nul >= 0:
        raise PreflightError(
            f"{path} line {line + chunk.count(NEWLINE, 0, nul)}, byte offset {offset + nul}: NUL byte; "
            f"this is not a text file (binary, compressed or UTF-16?)"
        )


def _likely_encoding(first_bad: int, settable: bool = False) -> str:
    """A guess good enough to name the fix: C1 bytes are printable only in Windows-1252.

    The movies file can also be read as it is (`settable`): the project's
    movies_encoding setting takes latin-1, but not Windows-1252, whose quotes
    and dashes latin-1 would read as control characters.
    """
    if 0x80 <= first_bad <= 0x9F:
        fix = "Windows-1252: convert it with iconv -f cp1252 -t utf-8"
        return fix + (" (the movies_encoding setting has no Windows-1252 choice)" if settable else "")
    fix = "latin-1: convert it with iconv -f latin1 -t utf-8"
    if settable:
        fix += (f", or read it as latin-1 with the movies_encoding setting "
                f"(--vars '{{\"movies_encoding\": \"latin-1\"}}' or {MOVIES_ENCODING_ENV}=latin-1)")
    return fix


def _check_header(line: str, path: Path, expected: tuple[str, ...]) -> None:
    # A BOM is skipped by DuckDB too; quotes around names are still the same header.
    found = tuple(name.strip().strip('"') for name in line.lstrip("\ufeff").rstrip("\r\n").split(","))
    if found == expected:
        return
    wanted = ",".join(expected)
    shown = line.strip() if len(line) <= 80 else line[:77] + "..."
    if found[0].lstrip("+-").isdigit():
        raise PreflightError(f'{path} line 1: header is missing (found data "{shown}"); '
                             f'expected "{wanted}" as the first line')
    raise PreflightError(f'{path} line 1: header is "{shown}" but expected "{wanted}"')


def _check_quotes(path: Path) -> None:
    """Raise if a quoted field never closes, or closes and runs on into more text.

    Either way a quote is missing or not doubled, and DuckDB would read the
    lines up to the next quote (or the whole rest of the file) as one value, so
    every row in between would vanish into it.  A quote opens a field only at
    its start (after a comma or at a line start) and "" inside it is a literal
    quote; elsewhere a quote is plain text, as DuckDB reads it.  Lines without
    a quote, nearly all of them, are skipped without looking at their bytes.
    """
    opened_at = 0  # line of the quote that is still open; 0 when none is
    with path.open("rb") as stream:
        for number, text in enumerate(stream, start=1):
            if opened_at or b'"' in text:
                opened_at = _follow_quotes(text, number, opened_at, path)
    if opened_at:
        raise PreflightError(f"{path} line {opened_at}: a quoted field opens here and never closes; "
                             f"every line after it would be read as part of that field")


def _follow_quotes(text: bytes, number: int, opened_at: int, path: Path) -> int:
    """Walk one line's fields; returns the line of a quote still open at its end, else 0."""
    pos, end = 0, len(text)
    while pos < end:
        if opened_at:
            close = text.find(b'"', pos)
            if close < 0:
                return opened_at
            if text.startswith(b'"', close + 1):  # "" is a literal quote
                pos = close + 2
                continue
            if text[close + 1:close + 2] not in (b",", b"\r", b"\n", b""):
                raise PreflightError(
                    f"{path} line {opened_at}: a quoted field opens here and its closing quote on line {number} "
                    f"is followed by more text, not a comma or the line end; a quote is missing or not doubled")
            opened_at = 0
            pos = close + 1
        elif text.startswith(b'"', pos):
            opened_at = number
            pos += 1
            continue
        comma = text.find(b",", pos)
        if comma < 0:
            return 0
        pos = comma + 1
    return opened_at
