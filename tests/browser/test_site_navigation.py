"""Navigation as a reader uses it: tabs, sidebar, breadcrumbs, next/previous links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from sitekit import SiteServer, page_paths


def _path(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _footer_links(site_dir: Path, path: str) -> dict[str, str]:
    html = (site_dir / path / "index.html").read_text()
    links = {}
    for kind in ("prev", "next"):
        match = re.search(
            rf'<a href="([^"]*)" class="md-footer__link md-footer__link--{kind}"', html
        )
        if match:
            links[kind] = _path(urljoin("http://x/" + path, match.group(1)))
    return links


def _open(page: Any, site: SiteServer, path: str) -> None:
    page.goto(site.url(path))
    page.locator("h1").first.wait_for()


def _follow(page: Any, link: Any) -> str:
    """Click a link (navigation.instant swaps the page in place) and return the new path."""
    href = link.evaluate("a => a.href")
    link.click()
    page.wait_for_url(href.split("#")[0] + "**")
    page.locator("h1").first.wait_for()
    return _path(page.url)


def test_top_tabs_reach_their_sections(page: Any, site: SiteServer, site_dir: Path) -> None:
    _open(page, site, "")
    tabs = page.locator(".md-tabs__link")
    labels = tabs.all_inner_texts()
    assert len(labels) >= 3, f"expected the navigation tabs, got {labels}"
    for i, label in enumerate(labels):
        link = page.locator(".md-tabs__link").nth(i)
        target = _path(link.evaluate("a => a.href"))
        assert (site_dir / target / "index.html").is_file(), f"tab {label!r} -> missing {target}"
        assert _follow(page, link) == target
        active = page.locator(".md-tabs__item--active").inner_text().strip()
        assert active == label.strip(), f"after clicking tab {label!r}, {active!r} is highlighted"


def test_sidebar_links_open_their_pages(page: Any, site: SiteServer) -> None:
    _open(page, site, "reference/cli/")
    links = page.locator(".md-sidebar--primary a.md-nav__link[href]:visible")
    hrefs = links.evaluate_all("as => as.map(a => a.href)")
    own = [
        i
        for i, h in enumerate(hrefs)
        if "/reference/cli/" in h and "#" not in h and not h.endswith("/reference/cli/")
    ]
    assert len(own) >= 3, f"the CLI section lists too few commands in the sidebar: {hrefs}"
    for i in (own[0], own[-1]):
        target = _path(hrefs[i])
        assert _follow(page, links.nth(i)) == target
        active = page.locator(".md-sidebar--primary a.md-nav__link--active:visible").first
        assert _path(active.evaluate("a => a.href")) == target, "sidebar highlights another page"


def test_every_guide_is_in_the_navigation(site_dir: Path) -> None:
    home = (site_dir / "index.html").read_text()
    start = home.find('class="md-nav md-nav--primary')
    assert start >= 0, "the home page has no primary navigation"
    nav = home[start:]
    linked = {_path(urljoin("http://x/", href)) for href in re.findall(r'href="([^"#]*)"', nav)}
    guides = [p for p in page_paths(site_dir) if p.startswith(("guides/", "getting-started/"))]
    assert guides
    orphans = [g for g in guides if g not in linked]
    assert not orphans, (
        "guide pages a reader cannot reach from the tabs/sidebar (add them to `nav` in "
        f"mkdocs.yml): {orphans}"
    )


def test_breadcrumbs_lead_up_to_the_section(page: Any, site: SiteServer, site_dir: Path) -> None:
    nested = [p for p in page_paths(site_dir) if p.count("/") >= 3]  # e.g. reference/cli/ship/
    assert nested, "no nested page to show breadcrumbs on"
    start = next((p for p in nested if p.startswith("reference/cli/")), nested[0])
    _open(page, site, start)
    crumbs = page.locator(".md-path .md-path__link")
    texts = [t.strip() for t in crumbs.all_inner_texts()]
    assert texts, f"{start}: no breadcrumbs (navigation.path)"
    section = start.split("/")[0].capitalize()  # "Reference"
    assert section in texts, f"{start}: breadcrumbs {texts} do not name its section {section}"
    parent = "/".join(start.rstrip("/").split("/")[:-1]) + "/"
    last = crumbs.last
    assert _follow(page, last) == parent, f"the last breadcrumb of {start} is not {parent}"


def test_next_and_previous_links_walk_the_navigation(
    page: Any, site: SiteServer, site_dir: Path
) -> None:
    # Statically: the footer chain visits each page once, and prev inverts next.
    chain, path, seen = [], "", set()
    while path is not None and path not in seen:
        seen.add(path)
        chain.append(path)
        links = _footer_links(site_dir, path)
        nxt = links.get("next")
        if nxt is not None:
            assert _footer_links(site_dir, nxt).get("prev") == path, f"prev of {nxt} != {path}"
        path = nxt  # type: ignore[assignment]
    assert path is None, f"the next links loop back to {path}"
    assert len(chain) >= 5, f"the next-link chain from the home page is short: {chain}"
    # In the browser: next then previous, clicking, on the first pages of the chain.
    _open(page, site, chain[1])
    assert _follow(page, page.locator("a.md-footer__link--next")) == chain[2]
    assert _follow(page, page.locator("a.md-footer__link--prev")) == chain[1]
    assert _follow(page, page.locator("a.md-footer__link--prev")) == chain[0]


def test_instant_navigation_keeps_a_working_page(page: Any, site: SiteServer) -> None:
    # navigation.instant swaps pages without reloading: the search still works after it.
    _open(page, site, "reference/cli/")
    _follow(page, page.locator(".md-tabs__link").first)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement?.dataset?.mdComponent") == "search-query"
