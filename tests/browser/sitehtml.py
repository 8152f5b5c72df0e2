"""Static analysis of built pages: links/anchors and the balance of livedocs markup."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr", "path", "circle", "rect", "line", "polyline", "polygon",
    "ellipse", "use", "stop",
}  # fmt: skip
# Elements whose end tag HTML lets an author omit: closed implicitly, not an error.
OPTIONAL_END = {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option"}
VIRTUAL_HOST = "http://site.invalid"


@dataclass
class PageLinks:
    ids: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)  # (tag, url)


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.result = PageLinks()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.result.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.result.ids.add(a["name"])
        linked = tag == "a" or (tag == "link" and a.get("rel") not in ("canonical", "alternate"))
        if linked and "href" in a:
            self.result.links.append((tag, a["href"]))
        elif tag in ("script", "img", "source", "iframe") and a.get("src"):
            self.result.links.append((tag, a["src"]))


def parse_links(html: str) -> PageLinks:
    parser = _LinkParser()
    parser.feed(html)
    return parser.result


def site_url_from_config(root: Path) -> str:
    match = re.search(r"^site_url:\s*(\S+)", (root / "mkdocs.yml").read_text(), re.M)
    url = match.group(1) if match else "/"
    return url if url.endswith("/") else url + "/"


def parse_site(site_dir: Path) -> dict[str, PageLinks]:
    """The ids and links of every HTML page of a built site (path relative to it -> links)."""
    return {
        p.relative_to(site_dir).as_posix(): parse_links(p.read_text(errors="replace"))
        for p in site_dir.rglob("*.html")
    }


def check_links(
    site_dir: Path, site_url: str, parsed: dict[str, PageLinks] | None = None
) -> list[str]:
    """Every internal link and anchor of every page; returns ``page: href (why)`` lines.

    ``parsed`` is :func:`parse_site`'s result when the caller has it already.
    """
    base_path = urlsplit(site_url).path or "/"
    virtual_base = VIRTUAL_HOST + base_path
    parsed = parse_site(site_dir) if parsed is None else parsed
    existing = {p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*") if p.is_file()}
    problems = []
    for rel, page in sorted(parsed.items()):
        page_url = virtual_base + rel
        for tag, href in page.links:
            if re.match(r"^(mailto|tel|javascript|data):", href):
                continue
            if href.startswith(site_url):
                href = virtual_base + href[len(site_url) :]
            url = urljoin(page_url, href)
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" != VIRTUAL_HOST:
                continue  # external: not ours to check offline
            path = unquote(parts.path)
            if not path.startswith(base_path):
                problems.append(f"{rel}: <{tag}> {href} (outside the site's base {base_path})")
                continue
            target = path[len(base_path) :]
            candidates = [target] if target and not target.endswith("/") else []
            candidates += [target + "index.html"] if target.endswith("/") or not target else []
            candidates += [target + "/index.html"] if target and not target.endswith("/") else []
            found = next((c for c in candidates if c in existing), None)
            if found is None:
                problems.append(f"{rel}: <{tag}> {href} (no such file in the site)")
                continue
            fragment = unquote(parts.fragment)
            if fragment and found in parsed and fragment not in parsed[found].ids:
                problems.append(f"{rel}: <{tag}> {href} (no id '{fragment}' in {found})")
    return problems


@dataclass
class _Open:
    tag: str
    line: int
    livedocs: bool  # this element or an ancestor is livedocs markup


class _BalanceChecker(HTMLParser):
    """Flags unclosed or stray tags inside livedocs blocks (class ``livedocs-*``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Open] = []
        self.problems: list[str] = []
        self.blocks = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        own = any(c.startswith("livedocs-") for c in classes)
        if own and not (self.stack and self.stack[-1].livedocs):
            self.blocks += 1
        inside = own or bool(self.stack and self.stack[-1].livedocs)
        self.stack.append(_Open(tag, self.getpos()[0], inside))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <x/> opens nothing

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        line = self.getpos()[0]
        if not any(o.tag == tag for o in self.stack):
            if self.stack and self.stack[-1].livedocs:
                self.problems.append(f"line {line}: stray </{tag}> inside livedocs markup")
            return
        while self.stack:
            top = self.stack.pop()
            if top.tag == tag:
                return
            if top.livedocs and top.tag not in OPTIONAL_END:
                self.problems.append(
                    f"line {top.line}: <{top.tag}> in livedocs markup is never closed "
                    f"(closed implicitly by </{tag}> on line {line})"
                )

    def close(self) -> None:
        super().close()
        for top in self.stack:
            if top.livedocs and top.tag not in OPTIONAL_END:
                self.problems.append(
                    f"line {top.line}: <{top.tag}> in livedocs markup never closed"
                )


def livedocs_markup_problems(html: str) -> tuple[int, list[str]]:
    """(number of livedocs blocks, problems) for one page."""
    checker = _BalanceChecker()
    checker.feed(html)
    checker.close()
    return checker.blocks, checker.problems
