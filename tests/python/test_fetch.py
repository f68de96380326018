"""fetch against a real HTTP server on 127.0.0.1; nothing in the network layer is mocked."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from cinemart.data.catalog import RELEASES, UnknownDatasetError, get_release
from cinemart.data.fetch import (
    DATA_DIR_ENV,
    ChecksumMismatchError,
    ConsoleReporter,
    FetchError,
    UnsafeArchiveError,
    fetch,
    unpack_archive,
)
from cinemart.data.layout import DatasetLayoutError

RATINGS_SHA256 = "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"


pytestmark = pytest.mark.usefixtures("no_local_copy")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_zip(entries: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
        for name, link_target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link_target)
    return buffer.getvalue()


def csv_dataset_zip(top: str = "ml-32m") -> bytes:
    return build_zip(
        {f"{top}/ratings.csv": b"userId,movieId,rating,timestamp\n", f"{top}/movies.csv": b"x\n"}
    )


def publish_with_md5(mirror, name: str, data: bytes) -> None:
    """Serve `name` and a GroupLens-style `name.md5` sidecar vouching for it."""
    (mirror.root / name).write_bytes(data)
    (mirror.root / f"{name}.md5").write_text(f"{hashlib.md5(data).hexdigest()}  {name}\n")


class RecordingReporter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int | None]] = []
        self.warnings: list[str] = []

    def progress(self, label: str, done: int, total: int | None) -> None:
        self.calls.append((label, done, total))

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class InterruptingReporter(RecordingReporter):
    """Simulates Ctrl-C arriving in the middle of a download."""

    def progress(self, label: str, done: int, total: int | None) -> None:
        raise KeyboardInterrupt


@pytest.fixture
def dest(tmp_path) -> Path:
    """Download destination, kept apart from the mirror's files in tmp_path."""
    return tmp_path / "data"


# -- catalog ---------------------------------------------------------------


def test_catalog_urls_and_checksum_sources():
    ml_10m = "https://files.grouplens.org/datasets/movielens/ml-10m.zip"
    assert get_release("ml-10m").url() == ml_10m
    assert set(RELEASES) == {"ml-latest-small", "ml-25m", "ml-32m", "ml-1m", "ml-10m", "ml-100k"}
    # Only ml-32m has nothing recorded and must rely on GroupLens' .md5 sidecar.
    assert [r.name for r in RELEASES.values() if r.needs_published_md5] == ["ml-32m"]


def test_unknown_dataset_lists_known_names(dest):
    with pytest.raises(UnknownDatasetError, match="ml-latest-small, ml-100k, ml-1m"):
        fetch("ml-2m", dest)


# -- download -------------------------------------------------------------


def test_fetch_downloads_verifies_and_flattens(mirror_with_latest_small, dest):
    reporter = RecordingReporter()

    base_url = mirror_with_latest_small.base_url

    folder = fetch("ml-latest-small", dest, base_url=base_url, reporter=reporter)

    assert folder == (dest / "ml-latest-small").resolve()
    assert {"ratings.csv", "movies.csv", "tags.csv", "links.csv"} <= set(os.listdir(folder))
    assert sha256(folder / "ratings.csv") == RATINGS_SHA256
    assert list(dest.iterdir()) == [folder], "scratch files were left behind"
    assert reporter.calls[-1] == ("ml-latest-small.zip", 978202, 978202)


def test_existing_dataset_is_reused_without_network(
    mirror_with_latest_small, dest, closed_port_url
):
    first = fetch("ml-latest-small", dest, base_url=mirror_with_latest_small.base_url)

    again = fetch("ml-latest-small", dest, base_url=closed_port_url)

    assert again == first


# -- the archive the repository ships (data/ml-latest-small.zip) --------------------


def test_the_shipped_archive_is_the_official_release(latest_small_zip):
    release = get_release("ml-latest-small")

    assert latest_small_zip.stat().st_size == release.size
    assert sha256(latest_small_zip) == release.sha256


def test_an_archive_in_the_destination_is_verified_and_unpacked_offline(latest_small_zip, dest, closed_port_url):
    dest.mkdir()
    shutil.copyfile(latest_small_zip, dest / "ml-latest-small.zip")
    reporter = RecordingReporter()

    folder = fetch(None, dest, base_url=closed_port_url, reporter=reporter)

    assert folder == (dest / "ml-latest-small").resolve()
    assert sha256(folder / "ratings.csv") == RATINGS_SHA256
    assert sorted(p.name for p in dest.iterdir()) == ["ml-latest-small", "ml-latest-small.zip"]
    assert reporter.calls[-1] == ("verifying ml-latest-small.zip", 978202, 978202)


def test_a_tampered_archive_in_the_destination_is_refused_and_leaves_nothing(latest_small_zip, dest,
                                                                              closed_port_url):
    dest.mkdir()
    data = bytearray(latest_small_zip.read_bytes())
    data[400_000] ^= 0xFF
    (dest / "ml-latest-small.zip").write_bytes(data)

    with pytest.raises(ChecksumMismatchError, match=r"ml-latest-small.zip is not the official ml-latest-small.zip "
                                                    r"\(checksum mismatch.*restore it"):
        fetch("ml-latest-small", dest, base_url=closed_port_url)
    assert [p.name for p in dest.iterdir()] == ["ml-latest-small.zip"]


def test_existing_folder_that_is_not_a_dataset_is_refused(dest, closed_port_url):
    (dest / "ml-1m").mkdir(parents=True)

    with pytest.raises(FetchError, match=r"remove .*ml-1m to download ml-1m again"):
        fetch("ml-1m", dest, base_url=closed_port_url)


def test_corrupted_archive_fails_checksum_and_leaves_nothing(mirror_with_latest_small, dest):
    archive = mirror_with_latest_small.root / "ml-latest-small.zip"
    data = bytearray(archive.read_bytes())
    data[500_000:500_016] = bytes(b ^ 0xFF for b in data[500_000:500_016])
    archive.write_bytes(data)

    with pytest.raises(ChecksumMismatchError) as raised:
        fetch("ml-latest-small", dest, base_url=mirror_with_latest_small.base_url)

    message = str(raised.value)
    assert f"expected sha256 {get_release('ml-latest-small').sha256}" in message
    assert f"got {hashlib.sha256(data).hexdigest()}" in message
    assert list(dest.iterdir()) == []


def test_oversized_download_is_cut_off(mirror_with_latest_small, dest):
    archive = mirror_with_latest_small.root / "ml-latest-small.zip"
    archive.write_bytes(archive.read_bytes() + b"trailing junk")

    with pytest.raises(ChecksumMismatchError, match="expected 978202 bytes, the server sent more"):
        fetch("ml-latest-small", dest, base_url=mirror_with_latest_small.base_url)

    assert list(dest.iterdir()) == []


def test_missing_archive_is_a_clear_http_error(grouplens_mirror, dest):
    with pytest.raises(FetchError, match=r"ml-100k\.zip failed: HTTP 404"):
        fetch("ml-100k", dest, base_url=grouplens_mirror.base_url)


def test_unreachable_server(dest, closed_port_url):
    with pytest.raises(FetchError, match=f"cannot reach {closed_port_url}/ml-1m.zip"):
        fetch("ml-1m", dest, base_url=closed_port_url)


def test_dropped_connection_leaves_nothing(mirror_with_latest_small, dest):
    mirror_with_latest_small.truncate("ml-latest-small.zip", after=100_000)

    with pytest.raises(FetchError, match="was interrupted: got 100000 of 978202 bytes"):
        fetch("ml-latest-small", dest, base_url=mirror_with_latest_small.base_url)

    assert list(dest.iterdir()) == []


def test_dropped_connection_is_caught_even_without_a_checksum(grouplens_mirror, dest):
    (grouplens_mirror.root / "ml-32m.zip").write_bytes(csv_dataset_zip())
    grouplens_mirror.truncate("ml-32m.zip", after=50)

    with pytest.raises(FetchError, match="was interrupted: got 50 of"):
        fetch("ml-32m", dest, base_url=grouplens_mirror.base_url, allow_unverified=True)

    assert list(dest.iterdir()) == []


def test_ctrl_c_mid_download_leaves_nothing(mirror_with_latest_small, dest):
    with pytest.raises(KeyboardInterrupt):
        fetch(
            "ml-latest-small",
            dest,
            base_url=mirror_with_latest_small.base_url,
            reporter=InterruptingReporter(),
        )

    assert list(dest.iterdir()) == []


def test_base_url_from_environment(mirror_with_latest_small, dest, monkeypatch):
    monkeypatch.setenv("CINEMART_DOWNLOAD_BASE_URL", mirror_with_latest_small.base_url)

    folder = fetch("ml-latest-small", dest)

    assert sha256(folder / "ratings.csv") == RATINGS_SHA256


# -- releases verified against GroupLens' published .md5 -------------------


def test_published_md5_verifies_unrecorded_release(grouplens_mirror, dest):
    publish_with_md5(grouplens_mirror, "ml-32m.zip", csv_dataset_zip())

    folder = fetch("ml-32m", dest, base_url=grouplens_mirror.base_url)

    assert folder == (dest / "ml-32m").resolve()
    assert sorted(p.name for p in folder.iterdir()) == ["movies.csv", "ratings.csv"]


def test_published_md5_mismatch_is_rejected(grouplens_mirror, dest):
    publish_with_md5(grouplens_mirror, "ml-32m.zip", csv_dataset_zip())
    (grouplens_mirror.root / "ml-32m.zip").write_bytes(csv_dataset_zip(top="tampered"))

    with pytest.raises(ChecksumMismatchError, match="expected md5"):
        fetch("ml-32m", dest, base_url=grouplens_mirror.base_url)

    assert list(dest.iterdir()) == []


def test_missing_published_md5_refuses_unless_explicitly_allowed(grouplens_mirror, dest):
    (grouplens_mirror.root / "ml-32m.zip").write_bytes(csv_dataset_zip())

    refusal = "cannot verify ml-32m.zip: .*HTTP 404.*--insecure-allow-unverified"
    with pytest.raises(FetchError, match=refusal):
        fetch("ml-32m", dest, base_url=grouplens_mirror.base_url)
    assert not dest.exists()

    reporter = RecordingReporter()
    folder = fetch(
        "ml-32m", dest, base_url=grouplens_mirror.base_url, allow_unverified=True, reporter=reporter
    )
    assert (folder / "ratings.csv").is_file()
    assert reporter.warnings and "will NOT be verified" in reporter.warnings[0]


def test_archive_with_wrong_layout_for_release_is_rejected(grouplens_mirror, dest):
    dat_archive = build_zip({"ml-32m/ratings.dat": b"1::1::5::1\n", "ml-32m/movies.dat": b"1::x\n"})
    publish_with_md5(grouplens_mirror, "ml-32m.zip", dat_archive)

    with pytest.raises(FetchError, match="ml-32m.zip does not hold a usable dataset"):
        fetch("ml-32m", dest, base_url=grouplens_mirror.base_url)

    assert list(dest.iterdir()) == []


def test_zip_slip_archive_from_server_extracts_nothing(grouplens_mirror, tmp_path):
    hostile = build_zip({"ml-32m/ratings.csv": b"x", "../../escaped.txt": b"x"})
    publish_with_md5(grouplens_mirror, "ml-32m.zip", hostile)
    dest = tmp_path / "deep" / "data"

    with pytest.raises(UnsafeArchiveError, match="path leaves the dataset folder"):
        fetch("ml-32m", dest, base_url=grouplens_mirror.base_url)

    assert not list(tmp_path.rglob("escaped.txt"))
    assert list(dest.iterdir()) == []


def test_non_zip_payload_is_a_clear_error(grouplens_mirror, dest):
    publish_with_md5(grouplens_mirror, "ml-32m.zip", b"<html>maintenance</html>")

    with pytest.raises(FetchError, match="ml-32m.zip is not a readable zip archive"):
        fetch("ml-32m", dest, base_url=grouplens_mirror.base_url)


# -- local copies ------------------------------------------------------------


def test_source_folder_is_used_in_place_without_network(
    make_movielens_folder, dest, closed_port_url
):
    local = make_movielens_folder("dat", name="mirror/ml-1m")

    assert fetch("ml-1m", dest, source=local, base_url=closed_port_url) == local.resolve()
    # A parent holding <name>/ works too, so one mirror can serve every release.
    assert fetch("ml-1m", dest, source=local.parent, base_url=closed_port_url) == local.resolve()
    assert not dest.exists()


def test_source_from_environment(make_movielens_folder, dest, monkeypatch, closed_port_url):
    local = make_movielens_folder("100k", name="ml-100k")
    monkeypatch.setenv(DATA_DIR_ENV, str(local))

    assert fetch("ml-100k", dest, base_url=closed_port_url) == local.resolve()
    assert fetch(None, dest, base_url=closed_port_url) == local.resolve()


@pytest.mark.parametrize("folder_name, holds", [
    ("ml-latest-small", "is named for ml-latest-small, not ml-25m"),  # use_local's own example
    ("movielens", "is not named ml-25m and has no ml-25m/ folder"),
])
def test_environment_copy_never_stands_in_for_another_named_release(
    folder_name, holds, make_movielens_folder, dest, monkeypatch, closed_port_url
):
    local = make_movielens_folder("csv", name=folder_name)  # same layout as ml-25m
    monkeypatch.setenv(DATA_DIR_ENV, str(local))

    with pytest.raises(FetchError, match=f"CINEMART_DATA_DIR .*{holds}: unset it to download ml-25m") as caught:
        fetch("ml-25m", dest, base_url=closed_port_url)
    assert "\n" not in str(caught.value)
    assert fetch(None, dest, base_url=closed_port_url) == local.resolve()  # no name: what it holds
    assert not dest.exists()


def test_explicit_source_is_trusted_unless_its_name_says_otherwise(make_movielens_folder, dest, closed_port_url):
    unnamed = make_movielens_folder("csv", name="my-copy")
    other = make_movielens_folder("csv", name="ml-latest-small")
    unzipped = make_movielens_folder("dat", name="ml-10M100K")  # how ml-10m.zip unpacks

    assert fetch("ml-25m", dest, source=unnamed, base_url=closed_port_url) == unnamed.resolve()
    assert fetch("ml-10m", dest, source=unzipped, base_url=closed_port_url) == unzipped.resolve()
    with pytest.raises(FetchError, match="ml-latest-small is named for ml-latest-small, not ml-25m: name the release"):
        fetch("ml-25m", dest, source=other, base_url=closed_port_url)


@pytest.mark.parametrize("fmt", ["100k", "dat", "csv"])
def test_unnamed_source_is_whatever_layout_it_holds(fmt, make_movielens_folder, dest, closed_port_url):
    local = make_movielens_folder(fmt, name="ml-latest-small" if fmt == "csv" else "somewhere")

    assert fetch(None, dest, source=local, base_url=closed_port_url) == local.resolve()


def test_unnamed_source_that_is_a_mirror_serves_the_default_release(make_movielens_folder, dest, closed_port_url):
    local = make_movielens_folder("csv", name="mirror/ml-latest-small")
    make_movielens_folder("dat", name="mirror/ml-1m")

    assert fetch(None, dest, source=local.parent, base_url=closed_port_url) == local.resolve()


def test_no_name_and_no_local_copy_downloads_the_default_release(mirror_with_latest_small, dest):
    folder = fetch(None, dest, base_url=mirror_with_latest_small.base_url)

    assert folder == (dest / "ml-latest-small").resolve()


def test_source_with_missing_files_names_them(make_movielens_folder, closed_port_url, dest):
    local = make_movielens_folder("csv", omit=("ratings.csv",))

    with pytest.raises(DatasetLayoutError, match="missing ratings.csv"):
        fetch("ml-25m", dest, source=local, base_url=closed_port_url)


def test_source_with_other_release_format_is_refused(make_movielens_folder, closed_port_url, dest):
    local = make_movielens_folder("csv")

    mismatch = "holds the csv layout, but ml-1m ships the dat layout"
    with pytest.raises(DatasetLayoutError, match=mismatch):
        fetch("ml-1m", dest, source=local, base_url=closed_port_url)


# -- unpacking ---------------------------------------------------------------


def unpack(tmp_path: Path, data: bytes, **limits) -> Path:
    archive = tmp_path / "test.zip"
    archive.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    unpack_archive(archive, out, **limits)
    return out


@pytest.mark.parametrize(
    "name", ["../evil.txt", "/abs/evil.txt", "top/../../evil.txt", "C:/evil.txt", "..\\evil.txt"]
)
def test_zip_slip_is_refused_before_anything_is_written(tmp_path, name):
    with pytest.raises(UnsafeArchiveError, match="path leaves the dataset folder"):
        unpack(tmp_path, build_zip({"top/ok.txt": b"fine", name: b"pwned"}))

    assert list((tmp_path / "out").iterdir()) == []
    assert not list(tmp_path.rglob("evil.txt"))


def test_symlink_member_is_refused(tmp_path):
    with pytest.raises(UnsafeArchiveError, match="symbolic link 'top/link'"):
        unpack(tmp_path, build_zip({"top/ok.txt": b"fine"}, symlinks={"top/link": "/etc/passwd"}))

    assert list((tmp_path / "out").iterdir()) == []


def test_zip_bomb_is_refused_by_compression_ratio(tmp_path):
    with pytest.raises(UnsafeArchiveError, match="compression ratio .* exceeds 100:1"):
        unpack(tmp_path, build_zip({"bomb/zeros.bin": bytes(20 << 20)}))

    assert list((tmp_path / "out").iterdir()) == []


def test_total_unpacked_size_is_capped(tmp_path):
    archive = build_zip({"a.bin": b"a" * 1000, "b.bin": b"b" * 1000})

    with pytest.raises(UnsafeArchiveError, match="would unpack to 2000 bytes, over the 1500-byte limit"):
        unpack(tmp_path, archive, max_total_bytes=1500)


def test_single_top_folder_is_flattened_whatever_its_name(tmp_path):
    # ml-10m.zip unpacks to ml-10M100K/, not ml-10m/.
    archive = build_zip({"ml-10M100K/": b"", "ml-10M100K/ratings.dat": b"r", "ml-10M100K/sub/x": b"x"})

    out = unpack(tmp_path, archive)

    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["ratings.dat", "sub", "sub/x"]


def test_archive_without_single_top_folder_is_kept_as_is(tmp_path):
    out = unpack(tmp_path, build_zip({"a/ratings.csv": b"r", "b/movies.csv": b"m"}))

    assert (out / "a" / "ratings.csv").read_bytes() == b"r"
    assert (out / "b" / "movies.csv").read_bytes() == b"m"


# -- progress ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_console_reporter_throttles_and_reports_rate_and_eta():
    stream, clock = io.StringIO(), FakeClock()
    reporter = ConsoleReporter(stream, interval=1.0, clock=clock)
    mib = 1 << 20

    reporter.progress("x.zip", 0, 10 * mib)
    for seconds, done in [(0.5, 1), (2.0, 4), (2.5, 5), (5.0, 10)]:
        clock.now = 100.0 + seconds
        reporter.progress("x.zip", done * mib, 10 * mib)

    assert stream.getvalue().splitlines() == [
        "x.zip: 0 B / 10.0 MiB (0.0%)",
        "x.zip: 4.0 MiB / 10.0 MiB (40.0%), 2.0 MiB/s, ETA 0:00:03",
        "x.zip: 10.0 MiB in 5.0s",
    ]


def test_two_processes_unpacking_the_same_release_both_succeed(latest_small_zip, dest, closed_port_url):
    """`make test` starts two pytest processes, and each unpacks the shipped archive if it is not there yet."""
    import multiprocessing

    dest.mkdir()
    shutil.copyfile(latest_small_zip, dest / "ml-latest-small.zip")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        folders = pool.starmap(fetch, [("ml-latest-small", dest)] * 4)

    assert set(folders) == {(dest / "ml-latest-small").resolve()}
    assert sha256(dest / "ml-latest-small" / "ratings.csv") == RATINGS_SHA256
    assert sorted(p.name for p in dest.iterdir()) == ["ml-latest-small", "ml-latest-small.zip"]
