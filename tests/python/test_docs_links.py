"""The documentation holds together: every relative link and #anchor resolves, and the README stays short.

Pages checked: README.md, every docs/*.md and benchmarks/RESULTS.md. A link
`[text](path)` or `[text](path#anchor)` is resolved relative to the page that
holds it; an anchor must be the GitHub slug of a heading of the target page.
http(s) and mailto links are not followed. Links inside code (fenced blocks,
inline code spans) are not links and are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
README_MAX_LINES = 150
README_COMMANDS_WITHIN = 40

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]*)(?:\s+\"[^\"]*\")?\)")
_IMAGE = re.compile(r"!\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]*)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_EXTERNAL = ("http://", "https://", "mailto:")
#: History narration has no place in the documentation: it states what is, not how it came to be.
_NARRATION = re.compile(r"\b(stop [0-9]+|issues? [0-9]+|previous revision|used to|last stop|earlier stop)\b",
                        re.IGNORECASE)


def pages() -> list[Path]:
    """Every page whose links are checked."""
    return [README, *sorted(DOCS.glob("*.md")), RESULTS]


def prose_lines(text: str) -> list[str]:
    """The page's lines with fenced code blocks blanked and inline code spans removed (line numbers kept)."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            lines.append("")
        elif in_fence:
            lines.append("")
        else:
            lines.append(_INLINE_CODE.sub("", line))
    return lines


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image outside code."""
    found = []
    for number, line in enumerate(prose_lines(text), start=1):
        for pattern in (_LINK, _IMAGE):
            found += [(number, match["target"]) for match in pattern.finditer(line)]
    return found


def github_slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (not - or _), spaces to -."""
    title = _LINK.sub(lambda m: m["text"], title)  # a linked heading is slugged by its text
    title = title.replace("`", "").strip().lower()
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, duplicates numbered as GitHub does (-1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    text = page.read_text(encoding="utf-8")
    for line in prose_lines_keeping_code_spans(text):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match["title"])
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def prose_lines_keeping_code_spans(text: str) -> list[str]:
    """Lines outside fenced code blocks, inline code kept (a heading's code span is part of its slug)."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(line)
    return lines


def broken_links(page: Path) -> list[str]:
    """One message per relative link of `page` whose file, folder or #anchor does not exist."""
    problems = []
    for number, target in links(page.read_text(encoding="utf-8")):
        if not target or target.startswith(_EXTERNAL):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}:{number}: ({target})"
        if not resolved.exists():
            problems.append(f"{where} -> {resolved} does not exist")
            continue
        if anchor:
            if resolved.is_dir() or resolved.suffix.lower() != ".md":
                problems.append(f"{where} -> #{anchor} points into {resolved.name}, which has no Markdown headings")
            elif anchor not in anchors(resolved):
                problems.append(f"{where} -> no heading of {resolved.name} has the anchor #{anchor}")
    return problems


# The checker itself: it must be able to fail.

def test_a_link_to_a_missing_file_is_reported(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\nSee [the guide](docs/missing.md) and [here](other.md).\n")
    (tmp_path / "other.md").write_text("# Other\n")

    problems = broken_links(page)

    assert len(problems) == 1 and "missing.md" in problems[0] and ":3:" in problems[0]


def test_a_link_to_a_missing_anchor_is_reported(tmp_path):
    (tmp_path / "target.md").write_text("# Target\n\n## Build and publish\n\n## Fallback prior (`m`)\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](target.md#build-and-publish) [ok](target.md#fallback-prior-m) "
                    "[bad](target.md#build-publish) [self](#page) [bad self](#nowhere)\n\n# Page\n")

    problems = broken_links(page)

    assert len(problems) == 2
    assert "#build-publish" in problems[0] and "#nowhere" in problems[1]


def test_external_links_and_code_are_not_checked(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[web](https://example.com/x.md) `[code](missing.md)`\n\n```\n[block](missing.md)\n```\n"
                    "![image](picture.png)\n")

    assert [p.split("-> ")[1] for p in broken_links(page)] == [f"{(tmp_path / 'picture.png').resolve()} does not exist"]


def test_slugs_follow_githubs_rules(tmp_path):
    assert github_slug("Ranking models (top-N lists)") == "ranking-models-top-n-lists"
    assert github_slug("SQL serving: `recommend_for` and `similar_to`") == "sql-serving-recommend_for-and-similar_to"
    assert github_slug("DuckDB CLI and Python — Python tested, CLI untested") == \
        "duckdb-cli-and-python--python-tested-cli-untested"
    page = tmp_path / "twice.md"
    page.write_text("# A\n\n## Notes\n\n## Notes\n\n```\n# not a heading\n```\n")
    assert anchors(page) == {"a", "notes", "notes-1"}


# The documentation.

@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert page.is_file()
    assert broken_links(page) == []


def test_there_are_docs_pages_and_results():
    assert len(list(DOCS.glob("*.md"))) >= 9
    assert RESULTS.is_file()


def test_the_readme_is_a_five_minute_read():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"
    opening = "\n".join(lines[:README_COMMANDS_WITHIN])
    assert "make run" in opening and "make test" in opening


def test_the_readme_links_every_docs_page_and_the_results():
    linked = {(README.parent / target.partition("#")[0]).resolve()
              for _, target in links(README.read_text(encoding="utf-8")) if not target.startswith(_EXTERNAL)}
    missing = [p.relative_to(ROOT).as_posix() for p in [*DOCS.glob("*.md"), RESULTS] if p.resolve() not in linked]
    assert missing == []


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_docs_page_opens_with_a_title_and_a_one_line_summary(page):
    lines = page.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2].strip() and lines[3] == ""


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_documentation_states_facts_not_history(page):
    narration = [f"{number}: {line.strip()}" for number, line in
                 enumerate(page.read_text(encoding="utf-8").splitlines(), start=1) if _NARRATION.search(line)]
    assert narration == []
