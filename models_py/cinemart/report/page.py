"""The HTML around the charts: page shell, embedded CSS, cards, tables, figures.

Everything is inline (no stylesheet, font or script is fetched) so the file
opens from a laptop, an e-mail attachment or an air-gapped machine.  The one
script only checks, after load, that every chart drew something, and writes
the verdict to <html data-charts="ok: N" | "failed: keys"> with the page
height beside it (data-height, so a screenshot can take the whole page): the
browser test reads both back and a reader never notices them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cinemart.report.svg import esc

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --bg: #f6f8fa; --card: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 30px; margin: 8px 0 4px; }
h2 { font-size: 23px; margin: 0 0 6px; }
h3 { font-size: 18px; margin: 20px 0 6px; }
.subtitle, .intro, figcaption, .note { color: var(--muted); }
.intro { max-width: 80ch; margin: 0 0 8px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 12px 0 0; font-size: 15px; }
nav a { color: #4269d0; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
          padding: 22px 28px 26px; margin: 22px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 8px 36px;
        align-items: start; }
.grid.narrow { grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); }
figure { margin: 18px 0 0; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { font-size: 14px; margin-top: 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin-top: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 14px; }
.card .value { font-size: 25px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .detail { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14.5px; margin-top: 4px; }
th { font-weight: 600; border-bottom: 2px solid var(--line); }
th, td { text-align: left; padding: 5px 10px 5px 0; vertical-align: top; }
td { border-bottom: 1px solid var(--line); }
.num { text-align: right; font-variant-numeric: tabular-nums; padding-right: 14px; }
footer { color: var(--muted); font-size: 14px; margin-top: 28px; }
"""

CHECK_SCRIPT = """
addEventListener("load", () => {
  const figures = [...document.querySelectorAll("figure.chart")];
  const drawn = (mark) => { const box = mark.getBBox(); return box.width > 0 || box.height > 0; };
  const failed = figures.filter((figure) => {
    const svg = figure.querySelector("svg");
    const box = svg ? svg.getBoundingClientRect() : null;
    return !svg || box.width === 0 || box.height === 0 || ![...svg.querySelectorAll(".mark")].some(drawn);
  });
  document.documentElement.dataset.charts = failed.length
    ? "failed: " + failed.map((figure) => figure.dataset.chart).join(" ")
    : "ok: " + figures.length;
  document.documentElement.dataset.height = document.documentElement.scrollHeight;
});
"""


@dataclass(frozen=True)
class Section:
    """One titled part of the report; `anchor` is its id for the table of contents."""

    anchor: str
    title: str
    intro: str
    body: str


@dataclass(frozen=True)
class Card:
    """A headline number: label above, formatted value, optional detail line."""

    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class Column:
    """A table column; numeric columns are right-aligned in tabular figures."""

    header: str
    numeric: bool = False


def figure(key: str, svg: str, caption: str = "") -> str:
    """A chart container the page's self-check recognises by class and names by `key`."""
    text = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{esc(key)}">{svg}{text}</figure>'


def grid(*items: str, narrow: bool = False) -> str:
    """Side by side on a laptop screen, stacked on a narrow one; `narrow` fits three tables to a row."""
    return f'<div class="grid{" narrow" if narrow else ""}">{"".join(items)}</div>'


def cards(items: Sequence[Card]) -> str:
    body = "".join(
        f'<div class="card"><div class="label">{esc(c.label)}</div><div class="value">{esc(c.value)}</div>'
        + (f'<div class="detail">{esc(c.detail)}</div>' if c.detail else "") + "</div>"
        for c in items
    )
    return f'<div class="cards">{body}</div>'


def table(columns: Sequence[Column], rows: Sequence[Sequence[object]]) -> str:
    """A table of already formatted cells; every cell is escaped here."""
    def cell(tag: str, column: Column, value: object) -> str:
        return f'<{tag} class="num">{esc(value)}</{tag}>' if column.numeric else f"<{tag}>{esc(value)}</{tag}>"

    head = "".join(cell("th", c, c.header) for c in columns)
    body = "".join("<tr>" + "".join(cell("td", c, v) for c, v in zip(columns, row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def heading(level: int, text: str) -> str:
    return f"<h{level}>{esc(text)}</h{level}>"


def paragraph(text: str, css_class: str = "note") -> str:
    return f'<p class="{css_class}">{esc(text)}</p>'


def page(title: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    """The whole document: header with a table of contents, the sections, a footer."""
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.anchor)}">{heading(2, s.title)}<p class="intro">{esc(s.intro)}</p>{s.body}</section>'
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header><h1>{esc(title)}</h1><p class="subtitle">{esc(subtitle)}</p><nav>{nav}</nav></header>\n'
        f"{body}\n<footer>{esc(footer)}</footer>\n</main>\n<script>{CHECK_SCRIPT}</script>\n</body>\n</html>\n"
    )
