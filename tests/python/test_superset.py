"""The shipped Superset dashboard on a real warehouse: import, every chart's data, a screenshot, a rebuild.

Superset runs from its own venv (`make bi-setup`, which this module runs; a cold
install takes a few minutes), on a throwaway metadata database, against a
warehouse published from the real ml-latest-small. Every chart's saved query
goes through Superset's chart-data API and is compared with the same question
asked of the warehouse directly; Chromium photographs the dashboard; then a
`cinemart build` rebuilds and publishes while the charts keep being asked, and
their answers follow the new warehouse.

Skip it locally with `-m "not superset"`.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from browser import CHROMIUM, NO_CHROMIUM, chromium, png_size
from cinemart.bi.bundle import BUNDLE_SOURCE, write_bundle
from cinemart.bi.superset import SupersetClient, SupersetError, SupersetSite, stop
from cinemart.warehouse.dbt import find_project_dir
from cinemart_builds import CINEMART, build_env, run_build

pytestmark = [pytest.mark.superset, pytest.mark.slow]

PROJECT = find_project_dir()
#: A stable place to look at the dashboard after a run (logs/ is not tracked).
SCREENSHOT = PROJECT / "logs" / "superset-dashboard.png"
WINDOW = (1600, 2000)

#: Each chart of the bundle and the same question asked of the warehouse: (chart columns, SQL).
EXPECTED = {
    "Genres": (("genre", "movies"), "select genre, n_movies from genre_summary order by n_movies desc, genre"),
    "Rating distribution": (("rating", "ratings"), "select rating, n_ratings from rating_distribution order by rating"),
    "Long tail": (("popularity_rank", "ratings per movie"),
                  "select popularity_rank, max(n_ratings) from movie_popularity group by 1 order by 1"),
    "Model comparison": (
        ("protocol", "scope", "model", "is_served", "precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10",
         "catalogue_coverage", "novelty", "intra_list_diversity"),
        "select protocol, scope, model, is_served, precision_at_10, recall_at_10, ndcg_at_10, map_at_10, "
        "catalogue_coverage, novelty, intra_list_diversity from ranking_evaluation "
        "order by protocol, scope, ndcg_at_10 desc, model"),
    "Recommendations for user 1": (
        ("rank", "title", "score", "because_you_liked", "because_similarity", "source"),
        "select rank, title, score, because_you_liked, because_similarity, source from user_recommendations "
        "where user_id = 1 order by rank"),
    "Similar to Toy Story": (("rank", "similar_title", "similarity", "source"),
                             "select rank, similar_title, similarity, source from similar_movies "
                             "where title = 'Toy Story' order by rank"),
}
#: Charts whose SQL orders by a key with ties (two genres with as many movies): compared as sets of rows,
#: with the chart's own order checked on the sort key.
TIED_ORDER = {"Genres": lambda row: -row[1], "Model comparison": lambda row: (row[0], row[1], -row[6])}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def superset_venv() -> Path:
    done = subprocess.run(["make", "--no-print-directory", "bi-setup"], cwd=PROJECT, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, f"make bi-setup failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return PROJECT / ".bi-venv"


@pytest.fixture(scope="module")
def warehouse(real_warehouse, tmp_path_factory) -> Path:
    """A warehouse folder serving the session's real ml-latest-small build, published by `cinemart publish`."""
    root = tmp_path_factory.mktemp("bi_warehouse")
    (root / "build").mkdir()
    shutil.copyfile(real_warehouse.database, root / "build" / "cinemart.duckdb")
    done = subprocess.run([CINEMART, "publish"], env=build_env(root), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture(scope="module")
def site(superset_venv, warehouse, tmp_path_factory) -> Iterator[SupersetSite]:
    home = tmp_path_factory.mktemp("superset_home")
    site = SupersetSite(superset_venv, home, _free_port(), public=True)
    bundle = write_bundle(PROJECT / BUNDLE_SOURCE, warehouse / "cinemart.duckdb", home / "bundle.zip")
    site.initialise(bundle, progress=lambda line: None)
    server = site.start()
    yield site
    stop(server)


@pytest.fixture(scope="module")
def client(site) -> SupersetClient:
    return SupersetClient(site.url)


def _warehouse_rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def _check_chart(client: SupersetClient, charts: dict[str, int], name: str, database: Path) -> None:
    columns, sql = EXPECTED[name]
    answered = client.chart_rows(charts[name])
    got = [tuple(row[c] for c in columns) for row in answered]
    want = _warehouse_rows(database, sql)
    assert len(want) > 0, f"{name}: the warehouse has no rows for it"
    if name in TIED_ORDER:
        assert got == sorted(got, key=TIED_ORDER[name]), f"{name}: rows are not in the chart's order"
        got, want = sorted(got, key=repr), sorted(want, key=repr)
    assert got == [tuple(pytest.approx(v, rel=1e-6) if isinstance(v, float) else v for v in row) for row in want], \
        f"{name}: Superset's rows differ from the warehouse's"


def test_the_dashboard_holds_every_chart(client):
    assert set(client.dashboard_charts()) == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_charts_data_matches_the_warehouse(client, warehouse, name):
    _check_chart(client, client.dashboard_charts(), name, warehouse / "cinemart.duckdb")


def test_known_values_reach_the_charts(client):
    """A few facts of ml-latest-small, so an empty or wrong warehouse cannot pass by agreeing with itself."""
    charts = client.dashboard_charts()
    genres = client.chart_rows(charts["Genres"])
    assert (genres[0]["genre"], genres[0]["movies"]) == ("Drama", 4361)
    ratings = {row["rating"]: row["ratings"] for row in client.chart_rows(charts["Rating distribution"])}
    assert len(ratings) == 10 and sum(ratings.values()) == 100_836
    assert "Toy Story 2" in {row["similar_title"] for row in client.chart_rows(charts["Similar to Toy Story"])}
    recommendations = client.chart_rows(charts["Recommendations for user 1"])
    assert [row["rank"] for row in recommendations] == list(range(1, 11))
    assert all(row["because_you_liked"] for row in recommendations)


def test_the_dashboard_renders_in_chromium(site, tmp_path):
    if CHROMIUM is None:
        pytest.skip(f"{NO_CHROMIUM}, so the dashboard's rendering is unchecked")
    width, height = WINDOW
    budget = "--virtual-time-budget=60000"  # the page's own chart requests finish inside it
    dump = chromium(site.dashboard_url, tmp_path / "profile-dom", "--dump-dom", budget,
                    f"--window-size={width},{height}", timeout=180)
    for text in ("Genres", "Model comparison", "Toy Story 2", "because_you_liked"):
        assert text in dump.stdout, f"{text!r} is not on the rendered dashboard:\n{dump.stdout[-1500:]}"
    assert not re.search(r"Unexpected error|There is no chart definition", dump.stdout)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    shot = chromium(site.dashboard_url, tmp_path / "profile-shot", f"--screenshot={SCREENSHOT}", budget,
                    f"--window-size={width},{height}", timeout=180)
    assert SCREENSHOT.is_file(), shot.stderr[-2000:]
    assert png_size(SCREENSHOT) == WINDOW
    # A blank page compresses to ~0.005 bytes per pixel; charts, tables and text to far more.
    assert SCREENSHOT.stat().st_size > 0.03 * width * height


def test_a_rebuild_and_publish_while_superset_answers(client, warehouse):
    """A full `cinemart build` (quick grids, so its models differ) publishes while every chart is asked over and over.

    Readers open the served file read-only per query and a publish is one atomic
    rename: no answer may fail, and after the publish the charts answer what the
    new warehouse holds.
    """
    charts = client.dashboard_charts()
    served = warehouse / "cinemart.duckdb"
    before = served.stat().st_ino
    errors: list[str] = []
    answers = 0
    done = threading.Event()

    def ask() -> None:
        nonlocal answers
        while not done.is_set():
            for chart_id in charts.values():
                try:
                    if not client.chart_rows(chart_id):
                        errors.append(f"chart {chart_id} answered no rows")
                    answers += 1
                except SupersetError as error:
                    errors.append(str(error))

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        build = run_build(warehouse)
    finally:
        done.set()
        asker.join()
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert served.stat().st_ino != before, "the build did not publish"
    assert errors == [], errors[:3]
    assert answers >= 2 * len(charts)
    for name in EXPECTED:
        _check_chart(client, charts, name, served)
