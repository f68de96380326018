"""`cinemart report` on the real warehouse: the HTML file itself, then rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from browser import CHROMIUM, NO_CHROMIUM, chromium, png_size
from cinemart.cli import main
from cinemart.report import write_report
from cinemart.report.build import iteration_curve_chart
from cinemart.report.page import Column, table
from cinemart.warehouse.dbt import database_path, find_project_dir

WINDOW_WIDTH = 1440  # a laptop screen
EXPECTED_CHARTS = {
    "genre-movies", "genre-mean-rating", "rating-distribution", "release-years", "user-activity",
    "movie-popularity", "als-grid", "als-rmse", "als-iterations", "ranking", "ranking-protocols", "ranking-novelty", "ranking-coverage",
    "cold-start",
}
# An unescaped & would be a bare "&" followed by anything but an entity.
BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|#x27|#\d+);)")


class _Page(HTMLParser):
    """What the tests look at: chart keys, references to anything outside the file, headings, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.charts: list[str] = []
        self.references: list[str] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self._in_heading = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and "chart" in (values.get("class") or "").split():
            self.charts.append(values["data-chart"] or "")
        if tag in ("link", "img", "iframe", "object", "embed", "video", "audio", "source"):
            self.references.append(f"<{tag}>")
        self.references += [f"{name}={value}" for name, value in values.items()
                            if name in ("src", "href", "xlink:href", "srcset", "action", "poster")
                            and not (value or "").startswith("#")]
        self._in_heading = tag in ("h1", "h2", "h3")

    def handle_endtag(self, tag: str) -> None:
        self._in_heading = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_heading:
            self.headings.append(data)


@pytest.fixture(scope="module")
def report(real_warehouse, tmp_path_factory) -> Path:
    """`cinemart report` with no options, in a project whose published warehouse is a copy of the real one."""
    project = tmp_path_factory.mktemp("report_project")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CINEMART_PROJECT_DIR", str(project))
        env.delenv("CINEMART_WAREHOUSE_DIR", raising=False)
        database = database_path(find_project_dir())
        database.parent.mkdir(parents=True)
        shutil.copyfile(real_warehouse.database, database)
        assert main(["report"]) == 0
    return database.with_name("report.html")


def test_report_is_one_self_contained_file(report):
    html = report.read_text(encoding="utf-8")
    page = _Page(html)
    assert page.references == []
    assert "url(" not in html and "@import" not in html
    assert html.count("<script") == 1 and "<script>" in html  # only the inline self-check
    assert set(page.charts) == EXPECTED_CHARTS and len(page.charts) == len(EXPECTED_CHARTS)


def test_report_shows_the_warehouse(report, real_warehouse):
    page = _Page(report.read_text(encoding="utf-8"))
    text = set(page.text)
    (rank, samples), = real_warehouse.query(
        "select rank, iterations - burn_in from als_grid_search where is_chosen and method = 'bayesian' "
        "and time_biases")
    assert {"100,836", "9,742", "4,361", "Drama", f"Bayesian ALS, rank {rank}, {samples} samples, time biases"} <= text
    assert {"Toy Story (1995)", "Star Wars: Episode IV - A New Hope (1977)", "Matrix, The (1999)"} <= set(page.headings)
    assert "Toy Story 2 (1999)" in text
    assert any(h.startswith("User 1 — first user: 232 ratings") for h in page.headings)
    # coverage of similar movies (every movie has a list) and personalisation by activity beside the fallback
    (listed,), = real_warehouse.query("select count(distinct movie_id) from similar_movies")
    assert listed == 9742 and {"Movies with a list", "Popular", "popular fallback p@10"} <= text
    assert "By user activity" in page.headings


def test_every_ampersand_from_the_data_is_escaped(report):
    html = report.read_text(encoding="utf-8")
    assert "&amp;" in html  # titles such as "Dumb & Dumber" do reach the page
    assert BARE_AMPERSAND.findall(html) == []


def test_the_same_warehouse_gives_the_same_bytes(report, tmp_path):
    again = write_report(report.with_name("cinemart.duckdb"), tmp_path / "again.html")
    assert again.read_bytes() == report.read_bytes()


def test_table_cells_are_escaped():
    html = table([Column("title")], [['<b>Tom & "Jerry"</b>']])
    assert "<b>" not in html
    assert "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;" in html


def test_iteration_curve_of_a_single_value_says_so_instead_of_drawing_a_line():
    single = iteration_curve_chart([(10, 0.85)], 10, 50, "reg 0.1")
    assert "Only 10 iterations was searched" in single
    assert "<polyline" not in single
    curve = iteration_curve_chart([(10, 0.8525), (20, 0.8528)], 10, 50, "reg 0.1")
    assert "<polyline" in curve and "Only" not in curve


def test_missing_warehouse_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", "--database", str(tmp_path / "absent.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cinemart: error: no warehouse at ") and err.count("\n") == 1
    assert not (tmp_path / "report.html").exists()


def test_partial_warehouse_names_the_missing_tables(tmp_path, capsys):
    database = tmp_path / "partial.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create table dataset_overview as select 1 as n_users")
    assert main(["report", "--database", str(database), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "lacks genre_summary, rating_distribution" in err and "similar_movies" in err


def _console_lines(*runs: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for run in runs for line in run.stderr.splitlines() if ":CONSOLE" in line]


def test_report_renders_in_headless_chromium(report, tmp_path):
    if CHROMIUM is None:
        pytest.skip(f"{NO_CHROMIUM}, so the report's rendering is unchecked")
    # the same width as the screenshot, so the measured height is the screenshot's page height
    dump = chromium(report.as_uri(), tmp_path / "profile-dom", "--dump-dom", f"--window-size={WINDOW_WIDTH},1000")
    status = re.search(r'<html[^>]*\sdata-charts="([^"]*)"[^>]*\sdata-height="(\d+)"', dump.stdout)
    assert status, f"the page's self-check never ran:\n{dump.stdout[:500]}\n{dump.stderr[-2000:]}"
    assert status.group(1) == f"ok: {len(EXPECTED_CHARTS)}"  # else "failed: <keys of charts that drew nothing>"

    height = int(status.group(2))
    screenshot = tmp_path / "report.png"
    shot = chromium(report.as_uri(), tmp_path / "profile-shot", f"--screenshot={screenshot}",
                    f"--window-size={WINDOW_WIDTH},{height}")
    assert _console_lines(dump, shot) == []
    assert png_size(screenshot) == (WINDOW_WIDTH, height)
    # A blank page compresses to ~0.005 bytes per pixel; charts, tables and text to ~0.1.
    assert screenshot.stat().st_size > 0.03 * WINDOW_WIDTH * height
