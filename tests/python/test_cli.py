from __future__ import annotations

import pytest

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from cinemart import cli
from cinemart.cli import main
from cinemart.data.layout import detect_layout
from cinemart.data.preflight import PreflightError, check_dataset

CINEMART_EXE = Path(sys.executable).with_name("cinemart")


pytestmark = pytest.mark.usefixtures("no_local_copy")


def fetch_cli(name: str, *options: str | Path) -> int:
    return main(["data", "fetch", name, *map(str, options)])


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert err.startswith("cinemart: error: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_fetch_prints_only_the_data_folder_on_stdout(mirror_with_latest_small, tmp_path, capsys):
    dest = tmp_path / "data"

    code = fetch_cli("ml-latest-small", "--dest", dest, "--base-url", mirror_with_latest_small.base_url)

    out, err = capsys.readouterr()
    folder = (dest / "ml-latest-small").resolve()
    assert code == 0
    assert out == f"{folder}\n"
    assert {"ratings.csv", "movies.csv", "tags.csv", "links.csv"} <= {p.name for p in folder.iterdir()}
    assert "ml-latest-small.zip: 955.3 KiB in " in err


def test_default_destination_is_data_under_the_working_directory(
    mirror_with_latest_small, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CINEMART_DOWNLOAD_BASE_URL", mirror_with_latest_small.base_url)

    assert fetch_cli("ml-latest-small") == 0

    assert capsys.readouterr().out == f"{tmp_path.resolve() / 'data' / 'ml-latest-small'}\n"


def test_corrupted_archive_exits_2_with_expected_and_actual(mirror_with_latest_small, tmp_path, capsys):
    archive = mirror_with_latest_small.root / "ml-latest-small.zip"
    data = bytearray(archive.read_bytes())
    data[-100] ^= 0xFF
    archive.write_bytes(data)
    dest = tmp_path / "data"

    code = fetch_cli("ml-latest-small", "--dest", dest, "--base-url", mirror_with_latest_small.base_url)

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert_one_line_error(
        err.splitlines(keepends=True)[-1],  # progress lines come first
        "expected sha256 696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        f"got {hashlib.sha256(data).hexdigest()}",
    )
    assert list(dest.iterdir()) == []


def test_http_404_exits_2(grouplens_mirror, tmp_path, capsys):
    code = fetch_cli("ml-1m", "--dest", tmp_path / "d", "--base-url", grouplens_mirror.base_url)

    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "ml-1m.zip failed: HTTP 404 File not found")


def test_unknown_dataset_exits_2_and_lists_known(capsys):
    assert fetch_cli("ml-2m") == 2

    assert_one_line_error(capsys.readouterr().err, "unknown dataset 'ml-2m'", "ml-latest-small", "ml-32m")


def test_from_local_folder_never_touches_the_network(
    make_movielens_folder, closed_port_url, tmp_path, capsys
):
    local = make_movielens_folder("csv", name="ml-25m")

    code = fetch_cli("ml-25m", "--from", local, "--base-url", closed_port_url, "--dest", tmp_path / "d")

    assert code == 0
    assert capsys.readouterr().out == f"{local.resolve()}\n"


def test_data_dir_environment_is_a_local_copy(make_movielens_folder, closed_port_url, monkeypatch, capsys):
    local = make_movielens_folder("dat", name="mirror/ml-1m")
    monkeypatch.setenv("CINEMART_DATA_DIR", str(local.parent))

    assert fetch_cli("ml-1m", "--base-url", closed_port_url) == 0

    assert capsys.readouterr().out == f"{local.resolve()}\n"


def test_from_folder_with_missing_files_exits_2(make_movielens_folder, capsys):
    local = make_movielens_folder("dat", omit=("movies.dat",))

    assert fetch_cli("ml-1m", "--from", local) == 2

    assert_one_line_error(capsys.readouterr().err, str(local.resolve()), "missing movies.dat")


def test_detect_prints_dbt_vars_as_json(make_movielens_folder, capsys):
    folder = make_movielens_folder("100k")

    assert main(["data", "detect", str(folder)]) == 0

    assert json.loads(capsys.readouterr().out) == detect_layout(folder).dbt_vars()


def test_detect_on_unknown_folder_exits_2(tmp_path, capsys):
    assert main(["data", "detect", str(tmp_path)]) == 2

    assert_one_line_error(capsys.readouterr().err, "no known MovieLens layout", str(tmp_path.resolve()))


def test_usage_errors_return_argparse_exit_code(capsys):
    assert main([]) == 2
    assert main(["data", "fetch"]) == 2
    assert "the following arguments are required: NAME" in capsys.readouterr().err


def test_installed_entry_point(make_movielens_folder):
    folder = make_movielens_folder("dat")
    assert CINEMART_EXE.is_file(), f"{CINEMART_EXE} missing: is cinemart installed in this venv?"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CINEMART_EXE, *args], capture_output=True, text=True, timeout=60)

    ok, bad = run("data", "detect", folder), run("data", "fetch", "nope")

    assert (ok.returncode, json.loads(ok.stdout)["movies_encoding"]) == (0, "latin-1")
    assert bad.returncode == 2
    assert_one_line_error(bad.stderr, "unknown dataset 'nope'")


# -- which dataset `cinemart build` builds ----------------------------------------


@pytest.fixture
def built_layouts(monkeypatch):
    """The layouts `cinemart build` resolved and the preflight passed; the build stops there, before dbt."""
    seen = []

    def stop(layout):
        check_dataset(layout)
        seen.append(layout)
        raise PreflightError("stopped by the test")

    monkeypatch.setattr(cli, "check_dataset", stop)
    monkeypatch.setattr(cli, "run_dbt", lambda *a, **k: pytest.fail("dbt must not start"))
    return seen


@pytest.mark.parametrize("fmt", ["100k", "dat"])
def test_build_from_a_folder_needs_no_name_and_detects_its_layout(fmt, make_movielens_folder, built_layouts,
                                                                  closed_port_url, monkeypatch, capsys):
    monkeypatch.setenv("CINEMART_DOWNLOAD_BASE_URL", closed_port_url)
    folder = make_movielens_folder(fmt, name={"100k": "ml-100k", "dat": "ml-1m"}[fmt])

    assert main(["build", "--from", str(folder)]) == 2

    assert [(layout.format, layout.data_dir) for layout in built_layouts] == [(fmt, folder.resolve())]
    assert_one_line_error(capsys.readouterr().err, "stopped by the test")


def test_build_without_a_name_builds_what_the_environment_copy_holds(make_movielens_folder, built_layouts,
                                                                    monkeypatch, capsys):
    folder = make_movielens_folder("100k", name="somewhere")
    monkeypatch.setenv("CINEMART_DATA_DIR", str(folder))

    main(["build"])

    assert [(layout.format, layout.data_dir) for layout in built_layouts] == [("100k", folder.resolve())]


def test_build_refuses_a_named_release_the_environment_copy_is_not(make_movielens_folder, built_layouts,
                                                                  closed_port_url, monkeypatch, capsys):
    monkeypatch.setenv("CINEMART_DOWNLOAD_BASE_URL", closed_port_url)
    folder = make_movielens_folder("csv", name="ml-latest-small")
    monkeypatch.setenv("CINEMART_DATA_DIR", str(folder))

    assert main(["build", "ml-25m"]) == 2

    assert built_layouts == []
    assert_one_line_error(capsys.readouterr().err, f"$CINEMART_DATA_DIR ({folder.resolve()}) is named for "
                          "ml-latest-small, not ml-25m: unset it to download ml-25m")


@pytest.mark.parametrize("setting", ["vars", "environment"])
def test_build_reads_a_latin1_movies_csv_when_movies_encoding_says_so(setting, make_movielens_folder,
                                                                     built_layouts, monkeypatch, capsys):
    latin1 = "movieId,title,genres\n1,Café (1995),Comedy\n".encode("latin-1")
    folder = make_movielens_folder("csv", extra={"movies.csv": latin1})
    options = ["--vars", '{"movies_encoding": "latin-1"}'] if setting == "vars" else []
    if setting == "environment":
        monkeypatch.setenv("CINEMART_MOVIES_ENCODING", "latin-1")

    assert main(["build", "--from", str(folder), *options]) == 2

    assert_one_line_error(capsys.readouterr().err, "stopped by the test")  # the preflight passed
    assert [layout.dbt_vars()["movies_encoding"] for layout in built_layouts] == ["latin-1"]


def test_spark_engine_without_the_spark_extra_names_the_install_command(monkeypatch, capsys):
    """`make run` installs the DuckDB engine only: --engine spark then says how to add Spark, before any work."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))

    assert main(["build", "--engine", "spark"]) == 2
    assert_one_line_error(capsys.readouterr().err, "the Spark engine is not installed (pyspark",
                          ".venv/bin/pip install -c constraints.txt -e '.[spark]'")
