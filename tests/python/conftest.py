"""Shared fixtures: a real local HTTP mirror of GroupLens and tiny MovieLens folders."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cinemart.data.fetch import REPO_DATA

# The official ml-latest-small.zip the repository ships, and its CSVs: CINEMART_DATA_DIR
# if set, else the archive unpacked into data/ml-latest-small (pytest_configure).
LATEST_SMALL_ZIP = REPO_DATA / "ml-latest-small.zip"
LATEST_SMALL_DIR = Path(os.environ.get("CINEMART_DATA_DIR") or REPO_DATA / "ml-latest-small")


def pytest_configure(config: pytest.Config) -> None:
    """Put the real ml-latest-small on disk before any test module is imported, with no network.

    Every real-data test, the Spark ones included, then finds it through
    CINEMART_DATA_DIR, so a fresh clone skips nothing for lack of data.
    """
    from cinemart.data.fetch import fetch

    if "CINEMART_DATA_DIR" not in os.environ:
        os.environ["CINEMART_DATA_DIR"] = str(fetch("ml-latest-small", REPO_DATA))


@dataclass
class Mirror:
    """A folder served over HTTP on 127.0.0.1, standing in for files.grouplens.org."""

    root: Path
    base_url: str
    truncated: dict[str, int] = field(default_factory=dict)

    def truncate(self, name: str, after: int) -> None:
        """Serve `name` with its full Content-Length but hang up after `after` bytes."""
        self.truncated["/" + name] = after


class _MirrorHandler(SimpleHTTPRequestHandler):
    mirror: Mirror

    def do_GET(self) -> None:
        cut = self.mirror.truncated.get(self.path)
        if cut is None:
            super().do_GET()
            return
        body = (self.mirror.root / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:cut])
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Keep pytest output clean."""


@pytest.fixture
def no_local_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset CINEMART_DATA_DIR (CI and `make test` set it) so fetch takes the download path."""
    monkeypatch.delenv("CINEMART_DATA_DIR", raising=False)


@pytest.fixture
def grouplens_mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    root.mkdir()
    handler = type("Handler", (_MirrorHandler,), {})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    handler.mirror = Mirror(root, f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield handler.mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def latest_small_zip() -> Path:
    """The official ml-latest-small.zip the repository ships (read-only: copy it before changing it)."""
    return LATEST_SMALL_ZIP


@pytest.fixture
def latest_small_dir() -> Path:
    """The official ml-latest-small CSVs (read-only)."""
    return LATEST_SMALL_DIR


@pytest.fixture
def mirror_with_latest_small(grouplens_mirror: Mirror, latest_small_zip: Path) -> Mirror:
    """The mirror serving a private copy of the official ml-latest-small.zip."""
    shutil.copyfile(latest_small_zip, grouplens_mirror.root / "ml-latest-small.zip")
    return grouplens_mirror


@pytest.fixture
def closed_port_url() -> str:
    """A base URL nothing listens on: any request to it fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# Minimal files per layout; byte strings so each test controls the encoding.
MOVIELENS_FIXTURES: dict[str, dict[str, bytes]] = {
    "csv": {
        "ratings.csv": b"userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n",
        "movies.csv": "movieId,title,genres\r\n1,Café Society (2016),Comedy\r\n".encode(),
        "tags.csv": b"userId,movieId,tag,timestamp\r\n1,1,funny,1445714994\r\n",
        "links.csv": b"movieId,imdbId,tmdbId\r\n1,0114709,862\r\n",
    },
    "dat": {
        "ratings.dat": b"1::1::5::978300760\n",
        "movies.dat": "1::Café Society (2016)::Comedy\n".encode("latin-1"),
        "users.dat": b"1::F::1::10::48067\n",
    },
    "100k": {
        "u.data": b"196\t242\t3\t881250949\n",
        "u.item": "1|Café (1995)|01-Jan-1995||http://x|0|0\n".encode("latin-1"),
    },
}


@pytest.fixture
def make_movielens_folder(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write the `fmt` fixture files (minus `omit`, plus `extra`) into a folder."""

    def make(
        fmt: str,
        name: str = "dataset",
        *,
        omit: tuple[str, ...] = (),
        extra: dict[str, bytes] | None = None,
    ) -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True)
        files = {**MOVIELENS_FIXTURES[fmt], **(extra or {})}
        for filename, content in files.items():
            if filename not in omit:
                (folder / filename).write_bytes(content)
        return folder

    return make


@dataclass(frozen=True)
class BuiltWarehouse:
    database: Path
    data_dir: Path

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        import duckdb

        with duckdb.connect(str(self.database), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def arrow(self, sql: str):
        """The query's result as a pyarrow Table."""
        import duckdb

        with duckdb.connect(str(self.database), read_only=True) as con:
            return con.sql(sql).to_arrow_table()


@pytest.fixture(scope="session")
def real_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    """One full `dbt build` (every model and test) on the real ml-latest-small, shared by the session."""
    from cinemart.data.layout import detect_layout
    from cinemart.warehouse.dbt import find_project_dir, run_dbt

    data_dir = LATEST_SMALL_DIR
    work = tmp_path_factory.mktemp("real_warehouse")
    database = work / "cinemart.duckdb"
    result = run_dbt("build", detect_layout(data_dir), project_dir=find_project_dir(), database=database,
                     target_dir=work)
    assert result.returncode == 0, f"dbt build on {data_dir} failed; logs in {work / 'logs'}"
    return BuiltWarehouse(database, data_dir)


@dataclass(frozen=True)
class SqlBuild:
    """A small MovieLens folder on disk, what its writer knows of it, and DuckDB's build of the SQL layers.

    `written` is the hostile corpus's files with each row's verdict (hostile_corpus.py), or
    the movielens_fixtures Fixture of a clean generated folder."""
    written: object
    folder: Path
    database: Path


#: Where each folder is written. The hostile CSV folder's name has a quote, a space and braces: data_dir
#: is pasted into SQL string literals and dbt-duckdb runs str.format() over the source location.
SQL_BUILD_FOLDERS = {"hostile_csv": "it's a {data} folder", "hostile_dat": "data", "100k": "data"}


@pytest.fixture(scope="session")
def sql_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SqlBuild]:
    """`sql_build(name)`: the run's one DuckDB build of the SQL layers from folder `name` (SQL_BUILD_FOLDERS).

    The quarantine, staging-shape and engine-parity tests read the same builds
    instead of making one each."""
    from hostile_corpus import write_hostile_csv, write_hostile_dat
    from movielens_fixtures import write_100k_dataset
    from sql_builds import build_sql_layers

    writers = {"hostile_csv": write_hostile_csv, "hostile_dat": write_hostile_dat, "100k": write_100k_dataset}
    built: dict[str, SqlBuild] = {}

    def get(name: str) -> SqlBuild:
        if name not in built:
            work = tmp_path_factory.mktemp(name)
            folder = work / SQL_BUILD_FOLDERS[name]
            written = writers[name](folder)
            built[name] = SqlBuild(written, folder, build_sql_layers(folder, work))
        return built[name]

    return get


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The run's one SparkSession (spark_sql_support.start_spark: local[2], Hive metastore in a temp folder).

    Every Spark test module shares it, and dbt invoked in this process
    (method: session) joins it: Spark allows one SparkContext per process,
    and stopping and starting one per module cost seconds each. Defined here,
    not imported into modules: a fixture imported into two modules is two
    fixtures. Skips, with the one-line reason, where Spark cannot start."""
    pytest.importorskip("pyspark")
    from cinemart.spark.environment import SparkEnvironmentError, check_spark_environment
    from spark_sql_support import start_spark

    try:
        check_spark_environment("local[2]")
    except SparkEnvironmentError as error:
        pytest.skip(f"Spark cannot start here: {error}")
    session = start_spark(tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


#: Fixtures that build a warehouse with dbt: every test that uses one is marked `slow`. A test that
#: builds one by itself carries @pytest.mark.slow; every test_*spark*.py module is marked `spark`.
SLOW_FIXTURES = frozenset({"real_warehouse", "full_spark_build", "cluster_spark_build", "sql_build", "published"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "spark" in item.path.name:
            item.add_marker(pytest.mark.spark)
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


#: The run's Spark builds (local[2], and on a standalone cluster), started in the background once the
#: tests that need them are collected.
_BACKGROUND: dict = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the Spark builds (`full_spark_build`, `cluster_spark_build`) now, so their minutes overlap the
    DuckDB tests that run first."""
    import importlib.util

    def wanted(fixture: str) -> bool:
        return any(fixture in getattr(item, "fixturenames", ()) for item in session.items)

    if not importlib.util.find_spec("pyspark"):
        return
    temp = session.config._tmp_path_factory
    if wanted("full_spark_build") or wanted("cluster_spark_build"):
        from spark_sql_support import start_full_spark

        _BACKGROUND["build"] = start_full_spark(temp.mktemp("spark_build"))
    if wanted("cluster_spark_build"):
        from spark_cluster_support import start_cluster_build

        _BACKGROUND["cluster"] = start_cluster_build(temp.mktemp("cluster_build"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run that ends before any test waited for a Spark build (-x, deselection) must not leave it running."""
    for key in ("build", "cluster"):
        running = _BACKGROUND.pop(key, None)
        if running is not None:
            running.stop()


def _background_build(key: str, start, finish, folder: Path):
    """The build `_BACKGROUND[key]` (or one `start` begins now in `folder`), waited for by `finish`;
    stopped whatever happens."""
    running = _BACKGROUND.pop(key, None) or start(folder)
    try:
        return finish(running)
    finally:
        running.stop()


@pytest.fixture(scope="session")
def full_spark_build(tmp_path_factory: pytest.TempPathFactory):
    """The test run's one Spark build of ml-latest-small (spark_sql_support.start_full_spark).

    Defined here, not imported into the modules that use it: a fixture
    imported into two modules is two fixtures, and this one takes minutes."""
    pytest.importorskip("pyspark")
    from spark_sql_support import finish_full_spark, start_full_spark

    return _background_build("build", start_full_spark, finish_full_spark, tmp_path_factory.mktemp("spark_build"))


@pytest.fixture(scope="session")
def cluster_spark_build(tmp_path_factory: pytest.TempPathFactory):
    """The run's build on a standalone Spark cluster (spark_cluster_support.start_cluster_build)."""
    pytest.importorskip("pyspark")
    from spark_cluster_support import finish_cluster_build, start_cluster_build

    return _background_build("cluster", start_cluster_build, finish_cluster_build,
                             tmp_path_factory.mktemp("cluster_build"))
