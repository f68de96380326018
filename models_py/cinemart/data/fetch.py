"""Put a verified MovieLens release on disk, or vouch for a local copy.

The dataset folder either appears complete or not at all: the archive is
downloaded into a scratch folder inside the destination, verified, unpacked
there, checked for a readable layout, and only then renamed into place.  Any
failure (bad checksum, dropped connection, Ctrl-C, hostile archive) removes
the scratch folder, so a later run never mistakes half a dataset for a whole.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from cinemart import __version__
from cinemart.console import ThrottledConsole
from cinemart.data.catalog import DEFAULT_BASE_URL, DEFAULT_RELEASE, Release, get_release, release_named_by_folder
from cinemart.data.layout import DatasetLayoutError, Layout, detect_layout

BASE_URL_ENV = "CINEMART_DOWNLOAD_BASE_URL"
DATA_DIR_ENV = "CINEMART_DATA_DIR"
DEFAULT_DEST = Path("data")
#: The checkout's own data/ folder: it ships ml-latest-small.zip, which unpacks beside it.
REPO_DATA = Path(__file__).resolve().parents[3] / "data"
DEFAULT_TIMEOUT = 60.0

# The largest release (ml-32m) unpacks to about 1 GB and ml-25m to about 1.2 GB;
# 4 GiB leaves room for growth while stopping a bomb long before the disk fills.
MAX_UNPACKED_BYTES = 4 << 30
# MovieLens CSVs deflate roughly 3-6x; zip bombs reach 1000x and more.
MAX_COMPRESSION_RATIO = 100
# Tiny members (README, empty-ish files) can legitimately compress extremely well.
RATIO_CHECK_MIN_BYTES = 1 << 20

_CHUNK = 1 << 20
_MD5_SIDECAR_MAX_BYTES = 4096
_MD5_HEX = re.compile(rb"\b[0-9a-fA-F]{32}\b")


class FetchError(Exception):
    """A dataset could not be fetched or used; the message says why."""


class ChecksumMismatchError(FetchError):
    """The downloaded archive is not the one the catalog or GroupLens vouches for."""


class UnsafeArchiveError(FetchError):
    """The archive tries to write outside its folder, holds links, or is a zip bomb."""


class Reporter(Protocol):
    """Where fetch tells a human what it is doing; fetch itself never prints."""

    def progress(self, label: str, done: int, total: int | None) -> None: ...

    def warn(self, message: str) -> None: ...


def fetch(
    name: str | None,
    dest: str | Path = DEFAULT_DEST,
    *,
    source: str | Path | None = None,
    base_url: str | None = None,
    allow_unverified: bool = False,
    reporter: Reporter | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Return the absolute data folder of release `name`, downloading it if needed.

    `source` (or $CINEMART_DATA_DIR) names a local copy to use in place with no
    network access (see `use_local` for when it counts as `name`).  Otherwise
    `dest/<name>` is reused if it already holds the dataset; else the archive
    `dest/<name>.zip` is verified and unpacked if it is there (the repository
    ships ml-latest-small.zip in data/, so the default dataset needs no network);
    else the release is downloaded from `base_url` (or $CINEMART_DOWNLOAD_BASE_URL,
    or GroupLens).  `allow_unverified`
    accepts an archive whose checksum cannot be obtained at all; a checksum that
    is known and does not match always fails.  `name` None (`cinemart build`
    without a name) means whatever the local copy holds, else DEFAULT_RELEASE.
    """
    release = get_release(name) if name is not None else None
    env_source = os.environ.get(DATA_DIR_ENV)
    if source or env_source:
        given = source or env_source
        if release is None:
            return use_unnamed(given).data_dir
        return use_local(release, given, vouched=bool(source)).data_dir
    release = release or get_release(DEFAULT_RELEASE)
    target = Path(dest).resolve() / release.name
    if target.exists():
        try:
            return _check_layout(release, target).data_dir
        except DatasetLayoutError as exc:
            raise FetchError(f"{exc}; remove {target} to download {release.name} again") from None
    base = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    _install_release(release, target, base, allow_unverified, reporter, timeout)
    return target


def use_local(release: Release, source: str | Path, *, vouched: bool = True) -> Layout:
    """Vouch for a local copy of `release`: `source/<name>` if that folder exists, else `source` itself.

    Accepting the parent lets $CINEMART_DATA_DIR point at a mirror that holds
    several releases side by side.  `source` itself must not bear another
    release's name (`--from data/ml-latest-small` is not ml-25m, whatever its
    layout).  Unless `vouched` (an explicit --from, not the environment), it
    must bear `release`'s own name: a CINEMART_DATA_DIR set long ago for one
    release must not silently stand in for another one named on the command line.
    """
    folder = Path(source)
    if (folder / release.name).is_dir():
        return _check_layout(release, folder / release.name)
    named = release_named_by_folder(folder)
    if named is not None and named != release:
        origin = f"${DATA_DIR_ENV} ({folder.resolve()})" if not vouched else str(folder.resolve())
        raise FetchError(f"{origin} is named for {named.name}, not {release.name}: {_other_choices(release, vouched)}")
    if named is None and not vouched:
        raise FetchError(f"${DATA_DIR_ENV} ({folder.resolve()}) is not named {release.name} and has no "
                         f"{release.name}/ folder: {_other_choices(release, vouched)}")
    return _check_layout(release, folder)


def _other_choices(release: Release, vouched: bool) -> str:
    if vouched:
        return "name the release it holds (cinemart build --from DIR needs no name)"
    return f"unset it to download {release.name}, or pass --from DIR to use a folder as {release.name}"


def use_unnamed(source: str | Path) -> Layout:
    """A local copy with no release named: whatever layout `source` holds, else `source/<DEFAULT_RELEASE>`.

    `cinemart build --from /path/to/ml-1m` must not need the name spelled out
    a second time, nor be checked against the default release's layout.
    """
    folder = Path(source)
    try:
        return detect_layout(folder)
    except DatasetLayoutError:
        if (folder / DEFAULT_RELEASE).is_dir():
            return _check_layout(get_release(DEFAULT_RELEASE), folder / DEFAULT_RELEASE)
        raise


def unpack_archive(
    archive: Path,
    dest: Path,
    *,
    max_total_bytes: int = MAX_UNPACKED_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> None:
    """Extract the regular files of `archive` into the existing folder `dest`.

    Every member is vetted before the first byte is written, so a rejected
    archive extracts nothing.  If all files share one top folder (GroupLens
    zips hold `ml-latest-small/`, `ml-10M100K/`, ...) it is dropped, so the data
    files land directly in `dest`.  The size limits rely on declared sizes:
    zipfile stops at a member's declared size and fails its CRC check if the
    stream holds more, so a lying header cannot smuggle extra bytes past them.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            vetted = [(info, path) for info in zf.infolist() if (path := _vet(info)) is not None]
            _check_sizes(archive.name, [info for info, _ in vetted], max_total_bytes, max_ratio)
            relatives = _strip_common_top([path for _, path in vetted])
            for (info, _), relative in zip(vetted, relatives, strict=True):
                out = dest.joinpath(*relative.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, out.open("xb") as dst:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
    except (zipfile.BadZipFile, NotImplementedError) as exc:
        raise FetchError(f"{archive.name} is not a readable zip archive: {exc}") from None


class ConsoleReporter(ThrottledConsole):
    """Progress (bytes, percent, rate, ETA) and warnings for a terminal or a log."""

    def progress(self, label: str, done: int, total: int | None) -> None:
        finished = total is not None and done >= total
        elapsed = self.due(finished)
        if elapsed is None:
            return
        if finished:
            self.emit(f"{label}: {_human(done)} in {elapsed:.1f}s", final=True)
            return
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{label}: {_human(done)}"]
        if total:
            parts[0] += f" / {_human(total)} ({100 * done / total:.1f}%)"
        if rate:
            parts.append(f"{_human(rate)}/s")
            if total:
                parts.append(f"ETA {_clock_time((total - done) / rate)}")
        self.emit(", ".join(parts), final=False)


def _install_release(
    release: Release,
    target: Path,
    base_url: str,
    allow_unverified: bool,
    reporter: Reporter | None,
    timeout: float,
) -> None:
    """Verify and unpack `release` into `target`: from the archive beside it, else downloaded.

    An archive already in the destination folder (`dest/<name>.zip`) is used
    with no download: this is how the ml-latest-small.zip the repository ships
    in data/ becomes the default dataset offline, and how a zip a user copied
    there by hand is checked exactly as a download would be.
    """
    url = release.url(base_url)
    expected = _expected_digests(release, url, allow_unverified, reporter, timeout)
    local = target.parent / release.archive
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{release.name}.", dir=target.parent) as scratch:
        if local.is_file():
            archive, actual = local, _hash_file(local, expected.keys(), reporter)
        else:
            archive = Path(scratch) / release.archive
            with archive.open("wb") as out:
                actual = _download(url, out, release, expected.keys(), reporter, timeout)
        try:
            _verify(release, archive.stat().st_size, expected, actual)
        except ChecksumMismatchError as exc:
            if archive != local:
                raise
            raise ChecksumMismatchError(f"{local} is not the official {release.archive} ({exc}); restore it "
                                        "(git checkout -- data/) or delete it to download the release") from None
        staging = Path(scratch) / "unpacked"
        staging.mkdir()
        unpack_archive(archive, staging)
        try:
            _check_layout(release, staging)
        except DatasetLayoutError as exc:
            raise FetchError(f"{release.archive} does not hold a usable dataset: {exc}") from None
        try:
            staging.rename(target)
        except OSError as exc:
            if _installed_meanwhile(release, target):  # another process unpacked the same release first
                return
            raise FetchError(f"cannot move the dataset into {target}: {exc}") from None


def _installed_meanwhile(release: Release, target: Path) -> bool:
    try:
        _check_layout(release, target)
    except DatasetLayoutError:
        return False
    return True


def _hash_file(path: Path, algorithms: Iterable[str], reporter: Reporter | None) -> dict[str, str]:
    hashes = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    total, done = path.stat().st_size, 0
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            done += len(chunk)
            for digest in hashes.values():
                digest.update(chunk)
            if reporter:
                reporter.progress(f"verifying {path.name}", done, total)
    return {algorithm: digest.hexdigest() for algorithm, digest in hashes.items()}


def _expected_digests(
    release: Release,
    url: str,
    allow_unverified: bool,
    reporter: Reporter | None,
    timeout: float,
) -> dict[str, str]:
    """Recorded digests, else the md5 GroupLens publishes next to the archive."""
    if not release.needs_published_md5:
        return release.digests
    try:
        return {"md5": _published_md5(url + ".md5", timeout)}
    except FetchError as exc:
        if not allow_unverified:
            raise FetchError(
                f"cannot verify {release.archive}: {exc}; "
                "pass --insecure-allow-unverified to accept it unchecked"
            ) from None
        if reporter:
            reporter.warn(f"{release.archive} will NOT be verified: {exc}")
        return {}


def _published_md5(url: str, timeout: float) -> str:
    """Parse a GroupLens `.md5` sidecar (`<hex>  <file>` or BSD `MD5 (<file>) = <hex>`)."""
    with _network_errors(url), urllib.request.urlopen(_request(url), timeout=timeout) as response:
        text = response.read(_MD5_SIDECAR_MAX_BYTES)
    digests = {match.lower() for match in _MD5_HEX.findall(text)}
    if len(digests) != 1:
        raise FetchError(f"{url} does not hold exactly one md5 digest")
    return digests.pop().decode("ascii")


def _download(
    url: str,
    out: BinaryIO,
    release: Release,
    algorithms: Iterable[str],
    reporter: Reporter | None,
    timeout: float,
) -> dict[str, str]:
    """Stream `url` into `out`, hashing on the way; return hex digests by algorithm.

    A body shorter than its Content-Length is caught here because
    http.client's read(amt) reports a dropped connection as a clean EOF, and
    an archive accepted without checksum would otherwise pass truncated.
    """
    hashes = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    with _network_errors(url), urllib.request.urlopen(_request(url), timeout=timeout) as response:
        announced = _content_length(response)
        total = release.size or announced
        done = 0
        while chunk := response.read(_CHUNK):
            done += len(chunk)
            if release.size is not None and done > release.size:
                raise ChecksumMismatchError(
                    f"size mismatch for {release.archive}: expected {release.size} bytes, "
                    "the server sent more"
                )
            out.write(chunk)
            for digest in hashes.values():
                digest.update(chunk)
            if reporter:
                reporter.progress(release.archive, done, total)
    if announced is not None and done != announced:
        raise FetchError(f"download of {url} was interrupted: got {done} of {announced} bytes")
    return {algorithm: digest.hexdigest() for algorithm, digest in hashes.items()}


def _verify(release: Release, size: int, expected: dict[str, str], actual: dict[str, str]) -> None:
    if release.size is not None and size != release.size:
        raise ChecksumMismatchError(
            f"size mismatch for {release.archive}: expected {release.size} bytes, got {size}"
        )
    for algorithm, want in expected.items():
        if actual[algorithm] != want.lower():
            raise ChecksumMismatchError(
                f"checksum mismatch for {release.archive}: "
                f"expected {algorithm} {want}, got {actual[algorithm]}"
            )


@contextmanager
def _network_errors(url: str) -> Iterator[None]:
    """Turn the many ways a download can fail into one FetchError line."""
    try:
        yield
    except urllib.error.HTTPError as exc:
        raise FetchError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {url}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"download of {url} was interrupted: {exc}") from None


def _request(url: str) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"User-Agent": f"cinemart/{__version__}"})


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _check_layout(release: Release, folder: Path) -> Layout:
    layout = detect_layout(folder)
    if layout.format != release.format:
        raise DatasetLayoutError(
            f"{layout.data_dir} holds the {layout.format} layout, "
            f"but {release.name} ships the {release.format} layout"
        )
    return layout


def _vet(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The relative path of a regular file, None for a folder; anything else is refused."""
    name = info.filename
    path = PurePosixPath(name)
    # Backslashes and drive letters ("C:") are path syntax to Windows unzippers.
    drive_or_empty = not path.parts or ":" in path.parts[0]
    if "\\" in name or path.is_absolute() or ".." in path.parts or drive_or_empty:
        raise UnsafeArchiveError(f"refusing to unpack {name!r}: path leaves the dataset folder")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchiveError(f"refusing to unpack symbolic link {name!r}")
    if info.is_dir():
        return None
    # Archives made on Windows carry no Unix mode (0): those are plain files.
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        raise UnsafeArchiveError(f"refusing to unpack special file {name!r}")
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"refusing to unpack encrypted member {name!r}")
    return path


def _check_sizes(
    label: str, files: list[zipfile.ZipInfo], max_total_bytes: int, max_ratio: float
) -> None:
    total = sum(info.file_size for info in files)
    if total > max_total_bytes:
        raise UnsafeArchiveError(
            f"{label} would unpack to {total} bytes, over the {max_total_bytes}-byte limit"
        )
    for info in files:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_CHECK_MIN_BYTES and ratio > max_ratio:
            raise UnsafeArchiveError(
                f"refusing to unpack {info.filename!r} from {label}: compression ratio "
                f"{ratio:.0f}:1 exceeds {max_ratio:.0f}:1 (zip bomb?)"
            )


def _strip_common_top(paths: list[PurePosixPath]) -> list[PurePosixPath]:
    tops = {path.parts[0] for path in paths}
    if len(tops) == 1 and all(len(path.parts) > 1 for path in paths):
        return [PurePosixPath(*path.parts[1:]) for path in paths]
    return paths


def _human(count: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _clock_time(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
