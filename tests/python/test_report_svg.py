"""The report's SVG charts without a browser: scales, ticks, formatting, escaping, well-formed output."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from cinemart.report.svg import (
    LinearScale,
    LogScale,
    Marker,
    Series,
    bar_chart,
    fmt_number,
    fmt_percent,
    hbar_chart,
    heatmap,
    line_chart,
    linear_ticks,
    log_ticks,
    nice_domain,
    tick_format,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = 'Tom & Jerry <script>alert("x")</script> \'quoted\''


def parse(svg: str) -> ET.Element:
    """Parsing as XML proves the markup is well formed, so a title with < or & cannot break it."""
    return ET.fromstring(svg)


def texts(svg: str) -> list[str]:
    return [el.text or "" for el in parse(svg).iter(f"{SVG}text")]


def marks(svg: str) -> list[ET.Element]:
    return [el for el in parse(svg).iter() if el.get("class") == "mark"]


def test_linear_scale_maps_the_domain_onto_the_range_either_way():
    x = LinearScale(0, 10, 100, 300)
    y = LinearScale(0, 10, 300, 100)  # upward y axis: larger values higher on screen
    assert (x(0), x(5), x(10)) == (100, 200, 300)
    assert (y(0), y(5), y(10)) == (300, 200, 100)


def test_log_scale_gives_each_decade_the_same_length():
    scale = LogScale(1, 10_000, 0, 400)
    assert [scale(v) for v in (1, 10, 100, 1000, 10_000)] == pytest.approx([0, 100, 200, 300, 400])
    with pytest.raises(ValueError, match="positive"):
        LogScale(0, 10, 0, 1)


@pytest.mark.parametrize("lo, hi, expected", [
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0, 5000, [0, 1000, 2000, 3000, 4000, 5000]),
    (1902, 2018, [1920, 1940, 1960, 1980, 2000]),  # inside the data, never beyond it
])
def test_linear_ticks_are_round_numbers_inside_the_range(lo, hi, expected):
    assert linear_ticks(lo, hi) == expected


@pytest.mark.parametrize("lo, hi, expected", [
    (0, 4361, (0, 5000)),
    (0, 311, (0, 400)),
    (0.852485, 0.852815, (0.8524, 0.8529)),
    (7, 7, (6, 8)),  # a single value still gets a frame around it
])
def test_nice_domain_ends_on_a_labelled_tick(lo, hi, expected):
    domain = nice_domain(lo, hi)
    assert domain == pytest.approx(expected)
    ticks = linear_ticks(*domain)
    assert (ticks[0], ticks[-1]) == pytest.approx(domain)


def test_log_axis_ticks_are_powers_of_ten_or_1_2_5_on_a_short_range():
    assert log_ticks(1, 10_000) == [1, 10, 100, 1000, 10_000]
    assert log_ticks(1, 50) == [1, 2, 5, 10, 20, 50]
    assert nice_domain(3, 2698, log=True) == (1, 10_000)


def test_numbers_carry_thousands_separators_and_fixed_decimals():
    assert fmt_number(100836) == "100,836"
    assert fmt_number(0.852509, 4) == "0.8525"
    assert fmt_percent(0.016968, 2) == "1.70%"
    assert [tick_format([0, 0.5, 1.0])(t) for t in (0, 0.5, 1.0)] == ["0.0", "0.5", "1.0"]
    assert tick_format([0, 5000, 10_000])(10_000) == "10,000"


def test_text_from_the_data_is_escaped_in_labels_tooltips_and_titles():
    svg = bar_chart([HOSTILE, "b"], {"n": [3, 4]}, title=HOSTILE, x_label="x", y_label="y", value_format=fmt_number)
    assert "<script>" not in svg
    assert "Tom &amp; Jerry &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#x27;quoted&#x27;" in svg
    assert texts(svg).count(HOSTILE) == 2  # chart title and category label, intact once parsed
    assert parse(svg).find(f"{SVG}title").text == HOSTILE


def test_bar_chart_draws_one_bar_per_value_and_a_legend_for_groups():
    svg = bar_chart(["p@10", "ndcg@10"], {"served": [0.23, 0.31], "popularity": [0.13, 0.17]}, title="Ranking",
                    x_label="Metric", y_label="Score", value_format=lambda v: f"{v:.3f}")
    bars = marks(svg)
    assert len(bars) == 4
    heights = [float(b.get("height")) for b in bars]
    # category by category: served p@10, popularity p@10, served ndcg, popularity ndcg
    assert heights == pytest.approx([h * heights[2] / 0.31 for h in (0.23, 0.13, 0.31, 0.17)], abs=0.2)
    assert {"served", "popularity", "Metric", "Score", "0.310"} <= set(texts(svg))


def test_hbar_chart_lengths_are_proportional_from_zero():
    svg = hbar_chart(["Drama", "Comedy"], [4000, 2000], title="Movies per genre", x_label="Movies",
                     value_format=fmt_number)
    widths = [float(b.get("width")) for b in marks(svg)]
    assert widths[0] == pytest.approx(2 * widths[1], abs=0.2)
    assert {"4,000", "2,000", "Movies"} <= set(texts(svg))


def test_line_chart_on_log_axes_compresses_flat_runs_and_labels_decades():
    counts = [500, 200, 50, *([1] * 5000)]
    svg = line_chart([Series("movies", list(enumerate(counts, start=1)))], title="Popularity",
                     x_label="Rank", y_label="Ratings", x_log=True, y_log=True)
    (line,) = marks(svg)
    assert len(line.get("points").split()) == 5  # the 5,000-point tail of ones is one segment
    assert {"1", "10", "100", "1,000", "Rank", "Ratings"} <= set(texts(svg))
    assert not any(math.isnan(float(c)) for p in line.get("points").split() for c in p.split(","))


def test_a_single_point_is_a_dot_with_the_note_not_a_line():
    svg = line_chart([Series("CV RMSE", [(10, 0.85)])], title="Iterations", x_label="Iterations",
                     y_label="RMSE", marker=Marker(10, 0.85, "chosen"), note="Only one value")
    tags = {el.tag.removeprefix(SVG) for el in marks(svg)}
    assert tags == {"circle"}
    assert {"Only one value", "chosen"} <= set(texts(svg))


def test_heatmap_marks_the_chosen_cell_and_shows_missing_ones():
    svg = heatmap(["10", "50"], ["0.05", "0.1"], [[0.93, 0.87], [None, 0.85]], title="Grid", x_label="reg",
                  y_label="rank", value_format=lambda v: f"{v:.2f}", notes=[["20 it", "20 it"], ["", "10 it"]],
                  marked=(1, 1), marked_label="chosen")
    cells = marks(svg)
    assert len(cells) == 4
    fills = [c.get("fill") for c in cells]
    assert fills[3] == "#440154" and fills[0] == "#fde725"  # lowest value darkest, highest lightest
    assert {"0.85", "10 it", "chosen", "—"} <= set(texts(svg))
    outlines = [el for el in parse(svg).iter(f"{SVG}rect") if el.get("fill") == "none"]
    assert len(outlines) == 1 and outlines[0].get("stroke-width") == "4.0"
