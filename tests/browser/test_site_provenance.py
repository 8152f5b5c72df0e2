"""Every code sample on the built site was produced by the livedocs engine; no page is empty.

The engine wraps what it renders in ``<div class="livedocs" data-livedocs-item="ID">``
(notebook pages as a whole). A ``<pre>`` or ``.highlight`` block in a page's article
outside such a wrapper was typed into Markdown by hand, which the docs forbid. The few
exceptions are explicit (see :data:`EXCEPTIONS`). Broken links are checked by
``test_site_static.py``; this module adds the empty-page check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sitehtml import VOID


@dataclass(frozen=True)
class Exception_:
    """Code blocks allowed outside the engine: where, which, and why."""

    pages: str  # regex on the page's path in the site
    markers: tuple[str, ...]  # classes the block or one of its ancestors carries
    why: str


EXCEPTIONS = (
    Exception_(
        r"^contributing/index\.html$",
        ("language-markdown",),
        "the directive syntax itself, shown in ````markdown fences",
    ),
    Exception_(r".*", ("mermaid",), "diagrams, not code samples"),
    Exception_(
        r"^reference/api/",
        ("doc",),
        "mkdocstrings renders signatures and docstrings of the Python API reference",
    ),
    Exception_(
        r"^reference/cli/",
        ("language-text", "language-console"),
        "pages generated from the live command tree: the synopsis, and the examples of the "
        "command's docstring (its --help output is a cli: capture)",
    ),
)


@dataclass
class _Node:
    tag: str
    classes: frozenset[str]
    engine: bool  # this element or an ancestor is the engine's wrapper


@dataclass
class PageScan:
    """What one page's ``<article>`` holds."""

    samples: list[str] = field(default_factory=list)  # hand-made blocks: "<pre class=...>"
    engine_blocks: int = 0
    text: str = ""  # article text outside the title and code


class _Scanner(HTMLParser):
    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.stack: list[_Node] = []
        self.depth_article: int | None = None
        self.scan = PageScan()
        self._text: list[str] = []

    def _inside(self, marker: str) -> bool:
        return any(marker in node.classes for node in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        a = {k: v or "" for k, v in attrs}
        classes = frozenset(a.get("class", "").split())
        if tag == "article" and "md-content__inner" in classes:
            self.depth_article = len(self.stack)
        engine = "livedocs" in classes and "data-livedocs-item" in a
        inside_engine = engine or bool(self.stack and self.stack[-1].engine)
        if engine and not (self.stack and self.stack[-1].engine):
            self.scan.engine_blocks += 1
        node = _Node(tag, classes, inside_engine)
        in_article = self.depth_article is not None
        is_sample = tag == "pre" or (tag == "div" and "highlight" in classes)
        if in_article and is_sample and not inside_engine:
            nested = any(n.tag == "pre" or "highlight" in n.classes for n in self.stack)
            markers = set(classes).union(*(n.classes for n in self.stack))
            if not nested and not markers.intersection(self.allowed):
                self.scan.samples.append(f'<{tag} class="{" ".join(sorted(classes))}">')
        self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not any(n.tag == tag for n in self.stack):
            return
        while self.stack and self.stack.pop().tag != tag:
            pass
        if self.depth_article is not None and len(self.stack) <= self.depth_article:
            self.depth_article = None if tag == "article" else self.depth_article

    def handle_data(self, data: str) -> None:
        if self.depth_article is None:
            return
        skip = {"h1", "pre", "code", "script", "style", "svg"}
        if any(n.tag in skip or "headerlink" in n.classes for n in self.stack):
            return
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self.scan.text = re.sub(r"\s+", " ", "".join(self._text)).strip()


def scan_page(html: str, rel: str) -> PageScan:
    """Hand-made code samples, engine blocks and body text of one built page."""
    allowed = tuple(m for e in EXCEPTIONS if re.search(e.pages, rel) for m in e.markers)
    scanner = _Scanner(allowed)
    scanner.feed(html)
    scanner.close()
    return scanner.scan


def _article(body: str) -> str:
    return (
        f'<html><body><article class="md-content__inner md-typeset">{body}</article></body></html>'
    )


def test_scanner_tells_engine_samples_from_typed_ones() -> None:
    engine = (
        '<div class="livedocs" data-livedocs-item="examples/a.py"><div class="tabbed-set">'
        '<div class="language-python highlight"><pre><code>x = 1</code></pre></div></div></div>'
    )
    typed = (
        '<div class="language-console highlight"><pre><span></span><code>$ ml x</code></pre></div>'
    )
    diagram = '<pre class="mermaid"><code>flowchart LR</code></pre>'
    scan = scan_page(_article("<h1>T</h1><p>Some text.</p>" + engine + typed + diagram), "p.html")
    assert scan.engine_blocks == 1
    assert scan.samples == ['<div class="highlight language-console">'], scan.samples
    assert scan.text == "Some text."
    # A look-alike wrapper without the item attribute is not the engine's.
    fake = '<div class="livedocs"><pre><code>x</code></pre></div>'
    assert scan_page(_article(fake), "p.html").samples == ['<pre class="">']
    # Exceptions are per page: markdown fences only on the contributing page.
    md = '<div class="language-markdown highlight"><pre><code>```livedocs</code></pre></div>'
    assert scan_page(_article(md), "contributing/index.html").samples == []
    assert scan_page(_article(md), "guides/x/index.html").samples != []
    # Code outside the article (navigation, footer) is not a sample of the page.
    assert scan_page("<nav><pre>x</pre></nav>" + _article("<p>t</p>"), "p.html").samples == []


def test_scanner_finds_empty_pages() -> None:
    assert scan_page(_article('<h1>Title<a class="headerlink">¶</a></h1>'), "p.html").text == ""
    assert scan_page(_article("<h1>Title</h1>\n  <p> </p>"), "p.html").text == ""


def _pages(site_dir: Path) -> list[tuple[str, str]]:
    return [
        (p.relative_to(site_dir).as_posix(), p.read_text(errors="replace"))
        for p in sorted(site_dir.rglob("*.html"))
        if p.name != "404.html"
    ]


@pytest.fixture(scope="module")
def scans(site_dir: Path) -> dict[str, PageScan]:
    return {rel: scan_page(html, rel) for rel, html in _pages(site_dir)}


def test_every_code_sample_comes_from_the_engine(scans: dict[str, PageScan]) -> None:
    assert sum(s.engine_blocks for s in scans.values()) >= 100, "too few engine blocks"
    typed = [f"{rel}: {sample}" for rel, s in scans.items() for sample in s.samples]
    assert not typed, (
        f"{len(typed)} code sample(s) not produced by livedocs (typed into Markdown); turn "
        "each into an example under examples/ or a `cli:` capture:\n" + "\n".join(typed[:60])
    )


def test_no_page_is_empty(scans: dict[str, PageScan]) -> None:
    empty = [rel for rel, s in scans.items() if len(s.text) < 40 and not s.engine_blocks]
    placeholder = re.compile(r"\b(TODO|TBD|lorem ipsum|coming soon)\b", re.I)
    stubs = [
        f"{rel}: {m.group(0)!r}" for rel, s in scans.items() if (m := placeholder.search(s.text))
    ]
    assert not empty, f"pages with no content beyond their title: {empty}"
    assert not stubs, "placeholder text on pages:\n" + "\n".join(stubs)
