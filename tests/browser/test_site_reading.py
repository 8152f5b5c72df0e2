"""What a reader does on the site: search, switch Code/Output, copy code, read output."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sitekit import SiteServer, page_paths

# Material >= 9.7 renders copy as a code-nav button; older versions as .md-clipboard.
COPY_BUTTON = "button.md-code__button[data-md-type=copy], button.md-clipboard"
CODE_OUTPUT_TABS = re.compile(r"<label[^>]*>Code</label><label[^>]*>Output</label>")


def _html(site_dir: Path, path: str) -> str:
    return (
        site_dir / (path + "index.html" if path.endswith("/") or not path else path)
    ).read_text()


def _pages_with(site_dir: Path, pattern: str | re.Pattern[str]) -> list[str]:
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    return [p for p in page_paths(site_dir) if rx.search(_html(site_dir, p))]


def _guides(site_dir: Path) -> list[str]:
    guides = [p for p in page_paths(site_dir) if p.startswith(("guides/", "getting-started/"))]
    assert guides, "the site has no guide pages (guides/ or getting-started/)"
    return guides


def _h1(site_dir: Path, path: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", _html(site_dir, path), re.S)
    assert match, f"{path} has no <h1>"
    text = re.sub(r'<a class="headerlink".*?</a>', "", match.group(1), flags=re.S)
    return unescape(re.sub(r"<[^>]+>", "", text)).strip()


# -- search ---------------------------------------------------------------------------------


# "/" and "s" are Material's; Ctrl+K and Cmd+K are ours (docs/javascripts/search-shortcut.js).
@pytest.mark.parametrize("key", ["/", "s", "Control+k", "Meta+k"])
def test_keyboard_shortcut_opens_search(page: Any, site: SiteServer, key: str) -> None:
    page.goto(site.url(""))
    page.locator("body").click(position={"x": 5, "y": 300})  # focus the page, not an input
    page.keyboard.press(key)
    query = page.locator("input[data-md-component=search-query]")
    query.wait_for(state="visible")
    # Our shortcut focuses the field after Material has shown the overlay (next tick).
    page.wait_for_function("document.activeElement?.dataset?.mdComponent === 'search-query'")
    # Material checks the overlay's toggle from the field's focus event, a moment later
    # (a busy machine showed the gap): wait for it rather than read it at once.
    page.wait_for_function("document.querySelector('input#__search').checked", timeout=5_000)
    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('input#__search').checked", timeout=5_000)


def _type(query: Any, text: str) -> None:
    # Material searches on key events, not on a programmatic value: the last character is
    # typed like a reader types it (every keystroke would search the whole index again).
    query.fill(text[:-1])
    query.press_sequentially(text[-1:])


def _search_hit(page: Any, guide: str) -> Any:
    # Result links carry the term for highlighting: .../guides/x/?h=term#section
    return page.locator(
        f".md-search-result__list a[href*='/{guide}?'], .md-search-result__list a[href$='/{guide}']"
    ).first


def test_search_finds_each_guide_by_its_title(page: Any, site: SiteServer, site_dir: Path) -> None:
    guides = _guides(site_dir)
    page.goto(site.url(guides[0]))
    page.keyboard.press("/")
    query = page.locator("input[data-md-component=search-query]")
    missing = []
    for guide in guides:
        title = _h1(site_dir, guide)
        _type(query, title)
        try:
            _search_hit(page, guide).wait_for(state="visible", timeout=10_000)
        except Exception:
            shown = page.locator(".md-search-result__meta").inner_text()
            missing.append(f"search for {title!r} does not list {guide} ({shown})")
    assert not missing, "\n".join(missing)
    # Following a result opens the page.
    _type(query, _h1(site_dir, guides[-1]))
    _search_hit(page, guides[-1]).click()
    page.wait_for_url(re.compile(re.escape(guides[-1])), timeout=30_000)
    assert page.locator("h1").first.inner_text().strip().rstrip("¶") == _h1(site_dir, guides[-1])


@pytest.mark.parametrize("start", ["", "contributing/"], ids=["home", "contributing"])
def test_search_works_on_pages_with_diagrams(
    page: Any, site: SiteServer, site_dir: Path, start: str
) -> None:
    # Pages with mermaid diagrams load more script: search must still come up there.
    if not (site_dir / start / "index.html").is_file():
        pytest.skip(f"the site has no page {start or '/'}")
    guide = _guides(site_dir)[0]
    page.goto(site.url(start))
    page.keyboard.press("/")
    _type(page.locator("input[data-md-component=search-query]"), _h1(site_dir, guide))
    try:
        _search_hit(page, guide).wait_for(state="visible", timeout=10_000)
    except Exception:
        shown = page.locator(".md-search-result__meta").inner_text()
        pytest.fail(f"search on /{start} does not list {guide} after 10 s; it shows {shown!r}")


# -- code samples ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tabs_page(site_dir: Path) -> str:
    pages = _pages_with(site_dir, CODE_OUTPUT_TABS)
    assert pages, "no page of the site has a livedocs Code/Output tab pair"
    return next((p for p in pages if p.startswith("guides/")), pages[0])


def test_code_and_output_tabs_switch(page: Any, site: SiteServer, tabs_page: str) -> None:
    page.goto(site.url(tabs_page))
    tabs = page.locator(".tabbed-set").filter(
        has=page.locator(".tabbed-labels label", has_text="Output")
    )
    first = tabs.first
    code_block, output_block = (
        first.locator(".tabbed-block").nth(0),
        first.locator(".tabbed-block").nth(1),
    )
    assert code_block.is_visible() and not output_block.is_visible()
    first.locator(".tabbed-labels label", has_text="Output").click()
    output_block.wait_for(state="visible")
    assert not code_block.is_visible()
    assert output_block.locator(".livedocs-output").count() == 1
    first.locator(".tabbed-labels label", has_text="Code").click()
    code_block.wait_for(state="visible")
    assert not output_block.is_visible()


def _example_blocks(site_dir: Path, root: Path) -> list[str]:
    """Pages whose Code tab names an example file (the title is the file's path)."""
    named = re.compile(r'<span class="filename">((?:examples|notebooks)/[^<]+)</span>')
    return [
        p
        for p in _pages_with(site_dir, CODE_OUTPUT_TABS)
        if any((root / m).is_file() for m in named.findall(_html(site_dir, p)))
    ]


def test_copy_button_copies_exactly_the_code(
    browser: Any, site: SiteServer, site_dir: Path, root: Path
) -> None:
    pages = _example_blocks(site_dir, root)
    assert pages, "no Code tab on the site names its example file"
    context = browser.new_context(base_url=site.base_url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base_url[:-1])
    checked = []
    try:
        page = context.new_page()
        for path in pages[:3]:
            page.goto(site.url(path))
            blocks = page.locator(".tabbed-block .highlight:has(th.filename)")
            for i in range(blocks.count()):
                block = blocks.nth(i)
                name = block.locator("th.filename").inner_text().strip()
                if not block.is_visible() or not (root / name).is_file():
                    continue  # a custom title: the file is not named on the page
                numbers = block.locator(".linenodiv .normal").all_inner_texts()
                start, count = int(numbers[0]), len(numbers)
                lines = (root / name).read_text().split("\n")
                expected = "\n".join(lines[start - 1 : start - 1 + count]).rstrip("\n")
                block.hover()
                block.locator(COPY_BUTTON).first.click()
                copied = page.evaluate("navigator.clipboard.readText()")
                assert copied.rstrip("\n") == expected, (
                    f"/{path}: the copy of {name} lines {start}-{start + count - 1} differs "
                    f"from the file"
                )
                assert not re.match(r"^\s*(\d+\s|\$ |>>> )", copied), "numbers/prompts copied"
                checked.append(f"{path} {name}")
                break  # one block per page
    finally:
        context.close()
    assert checked, f"no visible Code block naming an example file on {pages[:3]}"


def test_ansi_output_renders_as_coloured_spans(page: Any, site: SiteServer, site_dir: Path) -> None:
    pages = _pages_with(site_dir, r'class="livedocs-console".*?class="ansi-fg-')
    if not pages:
        pages = _pages_with(site_dir, r'class="[^"]*ansi-fg-')
    assert pages, "no captured output on the site has ANSI colours"
    page.goto(site.url(pages[0]))
    colours = page.evaluate(
        """() => [...document.querySelectorAll('.livedocs-console span[class*="ansi-fg-"]')]
              .slice(0, 50).map(s => ({cls: s.className, text: s.textContent,
                 colour: getComputedStyle(s).color,
                 base: getComputedStyle(s.closest('code') || s.parentElement).color}))"""
    )
    assert colours, f"{pages[0]}: no ANSI span inside a livedocs console"
    plain = [c for c in colours if c["colour"] == c["base"]]
    assert not plain, f"{pages[0]}: ANSI spans not coloured by the stylesheet: {plain[:3]}"
    assert len({c["colour"] for c in colours}) >= 1
    text = page.locator(".livedocs-console").first.inner_text()
    assert "\x1b" not in text and "[0m" not in text, "raw escape codes shown to the reader"


def test_copying_a_command_capture_copies_the_command(
    browser: Any, site: SiteServer, site_dir: Path
) -> None:
    # A `cli:` capture shows "$ command" then its output; a reader copies it to run it.
    pages = _pages_with(site_dir, 'class="livedocs-prompt"')
    assert pages, "no page shows a captured CLI command"
    path = next(
        (p for p in pages if p.startswith("reference/cli/") and p.count("/") >= 3), pages[0]
    )
    context = browser.new_context(base_url=site.base_url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base_url[:-1])
    try:
        page = context.new_page()
        page.goto(site.url(path))
        console = page.locator(".livedocs-console:has(.livedocs-prompt)").first
        command = console.locator("code").inner_text().split("\n", 1)[0].removeprefix("$ ")
        console.hover()
        console.locator(COPY_BUTTON).first.click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == command.strip(), (
            f"/{path}: the copy button of a CLI capture copies {copied[:80]!r}... "
            f"instead of the command {command.strip()!r}"
        )
    finally:
        context.close()


def test_code_annotations_open_their_note(page: Any, site: SiteServer, root: Path) -> None:
    # examples/quickstart.py ends with its notes ('# (N)! ...'); the page shows markers.
    notes = re.findall(r"^# \(\d+\)! (.+)$", (root / "examples/quickstart.py").read_text(), re.M)
    assert len(notes) == 3, notes
    page.goto(site.url("getting-started/quickstart/"))
    markers = page.locator(".tabbed-block .md-annotation__index")
    markers.first.wait_for(state="attached")
    assert markers.count() == 3
    labels = [markers.nth(i).get_attribute("aria-label") for i in range(3)]
    assert labels == ["Annotation 1", "Annotation 2", "Annotation 3"]  # readable by AT
    assert "# (1)!" not in page.locator(".tabbed-block code").first.inner_text()
    markers.first.click()
    tooltip = page.locator(".md-annotation .md-tooltip__inner").first
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text().strip().startswith(notes[0].split("`")[0].strip())
