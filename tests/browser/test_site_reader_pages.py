"""Reader pages speak to readers: no talk about how the site is built, no broken output tables.

Two checks over the built pages (issue 23, section 2):

* Outside the *Contributing* section (the navigation tab a page belongs to, as Material
  marks it in the built HTML), no sentence is about the machine that builds the site, the
  project's test suite or how the docs are made: that belongs to Contributing. The
  reference of the docs engine itself (``ml docs``, ``mltrack.livedocs``) may name its own
  machinery, wherever it is listed.
* No table printed in an output block has a row wrapped in the middle of a value (a
  ``rich`` table too narrow for its terminal folds ``accuracy=0.9737`` into ``accuracy=0.97``
  and ``37`` on the next line, or a date from its time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sitehtml import VOID

#: Phrases about the build, each with what it gives away. Case-insensitive regexes over
#: the article's prose (code and output blocks excluded: those are curated by the engine).
#: Chosen so that reader content passes: CI/CD pipelines, benchmark hardware in a table
#: ("2 cores"), the product's own docs commands and caches are all legitimate topics.
BANNED = (
    (r"\bbuil(?:t|ds|ding) this site\b", "the machine or build behind the site"),
    (r"\b(?:this|the) site (?:is|was|gets) (?:built|generated|made)\b", "how the site is built"),
    (r"\bwhile (?:this|the) site was\b", "how the site is built"),
    (r"\bbuild machine\b", "the build machine"),
    (r"\b(?:2|two)-core\b", "the build machine's size"),
    (r"\btest suite\b", "the project's tests"),
    (r"\ba test (?:runs|checks|executes) this page\b", "the project's tests"),
    (r"\b(?:every|each) (?:docs|site) build\b", "how the site is built"),
    (r"\bexecuted (?:to build|for|when building) this (?:page|site)\b", "how the site is built"),
    (r"\b(?:executed|captured|run) at build time\b", "how the site is built"),
    (r"\bgenerated (?:from [^.]{0,60} )?at build time\b", "how the site is built"),
    (r"\bthe docs build (?:uses|runs|executes|installs)\b", "how the site is built"),
    (r"\bwarm (?:pool|kernels?)\b", "docs engine internals"),
    (r"\blast-build\.json\b", "docs engine internals"),
    (r"\bdata-livedocs-item\b", "docs engine internals"),
    (r"\blivedocs-examples-", "an internal experiment name"),
)
_BANNED = [(re.compile(pattern, re.I), why) for pattern, why in BANNED]

#: Pages that document the docs engine itself, by their title: its machinery is the topic.
ENGINE_PAGES = re.compile(r"^(?:mltrack\.livedocs\b|ml docs\b)")
CONTRIBUTING_TAB = "Contributing"


@dataclass
class ReaderPage:
    """What the checks need from one built page."""

    tab: str | None = None  # label of the active navigation tab
    title: str = ""  # the article's h1
    prose: str = ""  # article text outside code and output blocks
    pres: list[str] = field(default_factory=list)  # text of every <pre> in the article


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ReaderPage()
        self.stack: list[tuple[str, frozenset[str]]] = []
        self.article_depth: int | None = None
        self.tab_depth: int | None = None
        self._tab: list[str] = []
        self._prose: list[str] = []
        self._title: list[str] = []
        self._pre: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        classes = frozenset((dict(attrs).get("class") or "").split())
        if tag == "article" and "md-content__inner" in classes:
            self.article_depth = len(self.stack)
        if "md-tabs__item--active" in classes and self.page.tab is None:
            self.tab_depth = len(self.stack)
        if tag == "pre" and self.article_depth is not None and self._pre is None:
            self._pre = []
        self.stack.append((tag, classes))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            top, _ = self.stack.pop()
            if (
                top == "pre"
                and self._pre is not None
                and not any(t == "pre" for t, _ in self.stack)
            ):
                self.page.pres.append("".join(self._pre))
                self._pre = None
            if top == tag:
                break
        depth = len(self.stack)
        if self.tab_depth is not None and depth <= self.tab_depth:
            self.page.tab = re.sub(r"\s+", " ", "".join(self._tab)).strip()
            self.tab_depth = None
        if self.article_depth is not None and depth <= self.article_depth:
            self.article_depth = None

    def handle_data(self, data: str) -> None:
        if self.tab_depth is not None:
            self._tab.append(data)
        if self.article_depth is None:
            return
        if self._pre is not None:
            self._pre.append(data)
            return
        tags = {t for t, _ in self.stack}
        if tags & {"script", "style", "svg"} or any("headerlink" in c for _, c in self.stack):
            return
        (self._title if "h1" in tags else self._prose).append(data)

    def close(self) -> None:
        super().close()
        self.page.prose = re.sub(r"\s+", " ", " ".join(self._prose)).strip()
        self.page.title = re.sub(r"\s+", " ", "".join(self._title)).strip()


def parse_page(html: str) -> ReaderPage:
    """Active tab, title, prose and ``<pre>`` texts of one built page."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


def banned_phrases(text: str) -> list[str]:
    """``"phrase" (why)`` for every banned phrase in ``text``, with some context."""
    found = []
    for pattern, why in _BANNED:
        for match in pattern.finditer(text):
            start, end = max(0, match.start() - 50), min(len(text), match.end() + 50)
            found.append(f"{match.group(0)!r} ({why}): ...{text[start:end]}...")
    return found


_BOX_ROW = re.compile(r"^\s*([│┃]).*\1\s*$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"[│┃]", line.strip())[1:-1]]


def wrapped_rows(pre_text: str) -> list[str]:
    """Rows of box-drawn tables (``rich``) whose value is broken over two lines.

    A line of a table whose first cell is empty continues the row above. In each column
    where both lines hold text, the last word above and the first word below must not be
    one value cut in two: a word with a digit or ``=`` (``accuracy=0.97`` + ``37``, a date
    + its time). Prose that wraps between words, and lists that wrap after a comma, pass.
    """
    problems = []
    lines = pre_text.splitlines()
    for above, line in zip(lines, lines[1:], strict=False):
        if not (_BOX_ROW.match(above) and _BOX_ROW.match(line)):
            continue
        upper, lower = _cells(above), _cells(line)
        if len(upper) != len(lower) or len(lower) < 2 or lower[0] or not any(lower[1:]):
            continue
        for top, bottom in zip(upper[1:], lower[1:], strict=True):
            if not top or not bottom:
                continue
            last, first = top.split()[-1], bottom.split()[0]
            if last.endswith((",", ";")):
                continue  # a list wrapped after one of its items
            if re.search(r"[0-9=]", last + first):
                problems.append(f"{above.strip()}\n    {line.strip()}")
                break
    return problems


def _reader_page(page: ReaderPage) -> bool:
    return page.tab != CONTRIBUTING_TAB and not ENGINE_PAGES.match(page.title)


# -- the checkers, on samples ----------------------------------------------------------------


def _html(tab: str, body: str, title: str = "Page") -> str:
    return (
        '<html><body><nav class="md-tabs"><ul>'
        '<li class="md-tabs__item"><a href="/">Home</a></li>'
        f'<li class="md-tabs__item md-tabs__item--active"><a href="/x/">\n  {tab}\n</a></li>'
        '</ul></nav><article class="md-content__inner md-typeset">'
        f'<h1>{title}<a class="headerlink" href="#">¶</a></h1>{body}</article></body></html>'
    )


def test_parser_reads_tab_title_prose_and_output() -> None:
    page = parse_page(
        _html(
            "Getting started",
            "<p>Install <code>mltrack</code>.</p>"
            '<div class="livedocs"><pre><code><span>$ ml runs</span>\n│ a │</code></pre></div>',
            title="Quick start",
        )
    )
    assert page.tab == "Getting started" and page.title == "Quick start"
    assert page.prose == "Install mltrack .", page.prose
    assert page.pres == ["$ ml runs\n│ a │"]
    assert parse_page("<html><body><p>no article</p></body></html>").pres == []


def test_banned_phrases_catch_build_talk_and_spare_reader_content() -> None:
    build_talk = [
        "A test runs this page's samples; on the 2-core machine that builds this site they "
        "take well under one.",
        "The session below was run while this site was built, against a server.",
        "They were measured on the machine that built this site.",
        "This notebook is executed at every docs build.",
        "Each example is a file executed at build time.",
        "Train, list, register: a real session captured at build time.",
        "The table is generated from the live command tree when the site is built.",
        "The CPU-only wheel (the docs build uses it).",
        "Runs of livedocs-examples-insights-compare-runs-py-f93627 by val_f1",
        "The warm pool forks each example.",
        "Run the test suite first.",
        "Both scripts were executed to build this page.",
        "Each page starts with an example executed for this site.",
    ]
    for sentence in build_talk:
        assert banned_phrases(sentence), sentence
    reader_content = [
        "Two jobs cover most ML projects: test, on every push, and train; see CI/CD.",
        "On 2 cores that is about 1.15x; 16 cores 8 workers 1.24-1.33x.",
        "Credentials come from the CI system's secrets.",
        "A throwaway MLflow server on a free port, for your own tests.",
        "Executed docs examples are cached under .cache/livedocs/ (docs.warm_pool).",
        "ml docs check exits with status 1 on any failure (for CI).",
        "Build the image, then ship it: the site of your model is built by Docker.",
        "LiveDocsError: an example failed while building the docs.",
    ]
    for sentence in reader_content:
        assert not banned_phrases(sentence), (sentence, banned_phrases(sentence))


def test_contributing_and_engine_pages_are_not_reader_pages() -> None:
    assert not _reader_page(parse_page(_html("Contributing", "<p>x</p>", "Design system")))
    assert not _reader_page(parse_page(_html("Reference", "<p>x</p>", "mltrack.livedocs.worker")))
    assert not _reader_page(parse_page(_html("Reference", "<p>x</p>", "ml docs check")))
    assert _reader_page(parse_page(_html("Reference", "<p>x</p>", "ml runs")))
    assert _reader_page(parse_page(_html("Getting started", "<p>x</p>", "Quick start")))


def test_wrapped_row_checker_finds_cut_values_only() -> None:
    cut = (
        "┃ id       ┃ name   ┃ start         ┃ metrics       ┃\n"
        "┡━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩\n"
        "│ 28526306 │ logreg │ 2026-12-06    │ accuracy=0.97 │\n"
        "│          │        │ 06:23:21      │ 37            │\n"
        "│ 11aa22bb │ svm    │ 2026-12-06    │ accuracy=0.91 │\n"
    )
    assert len(wrapped_rows(cut)) == 1, wrapped_rows(cut)
    date_only = "│ a │ 2026-12-06 │ x=1 │\n│   │ 06:23:21   │     │\n"
    assert wrapped_rows(date_only), "a date cut from its time is a wrapped row"
    fits = (
        "│ 28526306 │ logreg │ 2026-12-06 06:23:21 │ accuracy=0.9737 │\n"
        "│ 11aa22bb │ svm    │ 2026-12-06 06:23:25 │ accuracy=0.9111 │\n"
    )
    assert wrapped_rows(fits) == []
    prose = (
        "│ ml ui [--port PORT] │ Start the MLflow UI for the  │\n"
        "│                     │ configured tracking store    │\n"
        "│ frameworks │ ok │ sklearn, torch, keras, xgboost,  │\n"
        "│            │    │ lightgbm                         │\n"
        "│ ml promote │ Move the alias (as                  │\n"
        "│            │ admin or owner).                    │\n"
    )
    assert wrapped_rows(prose) == [], wrapped_rows(prose)
    listed = "│ r1 │ acc=0.97, f1=0.95, │\n│    │ loss=0.12          │\n"
    assert wrapped_rows(listed) == [], "a list wrapped after a comma keeps its values whole"
    assert wrapped_rows("def f():\n    return 1\n") == []


# -- the built site ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pages(site_dir: Path) -> dict[str, ReaderPage]:
    return {
        p.relative_to(site_dir).as_posix(): parse_page(p.read_text(errors="replace"))
        for p in sorted(site_dir.rglob("*.html"))
        if p.name != "404.html"
    }


def test_contributing_section_holds_the_build_pages(pages: dict[str, ReaderPage]) -> None:
    tabs = {rel: page.tab for rel, page in pages.items()}
    assert tabs.get("contributing/index.html") == CONTRIBUTING_TAB, tabs.get(
        "contributing/index.html"
    )
    for title in ("Docs build report", "Design system"):
        found = [rel for rel, page in pages.items() if page.title == title]
        assert found, f"no page titled {title!r}"
        assert all(tabs[rel] == CONTRIBUTING_TAB for rel in found), (
            f"{title!r} is listed under {[tabs[rel] for rel in found]}, not under Contributing"
        )


def test_reader_pages_do_not_talk_about_the_build(pages: dict[str, ReaderPage]) -> None:
    readers = {rel: page for rel, page in pages.items() if _reader_page(page)}
    assert len(readers) >= 50, f"only {len(readers)} reader pages: is the tab parsing broken?"
    problems = [
        f"{rel}: {hit}" for rel, page in readers.items() for hit in banned_phrases(page.prose)
    ]
    assert not problems, (
        f"{len(problems)} sentence(s) about the build on reader pages; move them to "
        "Contributing or say what matters to a reader:\n" + "\n".join(problems[:40])
    )


def test_no_output_table_has_a_wrapped_row(pages: dict[str, ReaderPage]) -> None:
    tables = sum(1 for page in pages.values() for pre in page.pres if "┃" in pre)
    assert tables >= 3, f"only {tables} box-drawn tables in all outputs: is the parsing broken?"
    problems = [
        f"{rel}:\n    {row}"
        for rel, page in pages.items()
        for pre in page.pres
        for row in wrapped_rows(pre)
    ]
    assert not problems, (
        f"{len(problems)} output table row(s) wrapped in the middle of a value; widen the "
        "terminal the engine captures with (COLUMNS) or make the table fit:\n"
        + "\n".join(problems[:40])
    )
