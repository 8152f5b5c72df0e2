"""Screenshots of the product, shot at build time, as readers see them.

Every ``screenshot:`` block of the built site is a figure with two images (the light and
the dark scheme, Material's ``#only-light`` / ``#only-dark``), both decoded, both with
the block's alt text; the one shown follows the reader's colour scheme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Pages that show the product (issue 23): each must hold at least one screenshot.
EXPECTED = {
    "getting-started/quickstart/",
    "guides/experiment-tracking/",
    "guides/llm-tracking/",
    "guides/model-registry/",
    "guides/model-cards/",
    "guides/insights/",
    "reference/rest-api/",
}

_FIGURES_JS = """
() => [...document.querySelectorAll('figure.livedocs-screenshot')].map(f => ({
  missing: f.classList.contains('livedocs-screenshot-missing'),
  caption: (f.querySelector('figcaption') || {}).textContent || '',
  images: [...f.querySelectorAll('img')].map(i => ({
    scheme: i.src.endsWith('#only-dark') ? 'dark' : i.src.endsWith('#only-light') ? 'light' : '',
    alt: i.alt,
    complete: i.complete,
    width: i.naturalWidth,
    shown: i.getBoundingClientRect().width > 0,
  })),
}))
"""


def _pages_with_screenshots(site_dir: Path) -> list[str]:
    pages = []
    for path in sorted(site_dir.rglob("index.html")):
        if b"livedocs-screenshot" in path.read_bytes():
            rel = path.parent.relative_to(site_dir).as_posix()
            pages.append("" if rel == "." else rel + "/")
    return pages


def _figures(page: Any, path: str, scheme: str) -> list[dict[str, Any]]:
    page.emulate_media(color_scheme=scheme)
    page.goto(path)
    # Material keeps the palette it picked first; a reader arriving in another scheme
    # has none kept.
    page.evaluate("localStorage.clear()")
    page.reload()
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.livedocs-screenshot img')]"
        ".every(i => i.complete)"
    )
    return list(page.evaluate(_FIGURES_JS))


def test_the_product_pages_show_screenshots(site_dir: Path) -> None:
    found = set(_pages_with_screenshots(site_dir))
    assert found >= EXPECTED, f"pages without a screenshot: {sorted(EXPECTED - found)}"


def test_every_screenshot_has_both_images_loaded_with_alt_text(page: Any, site_dir: Path) -> None:
    for path in _pages_with_screenshots(site_dir):
        figures = _figures(page, path, "light")
        assert figures, f"{path}: no screenshot figure"
        for figure in figures:
            assert not figure["missing"], f"{path}: a placeholder instead of a screenshot"
            images = figure["images"]
            assert sorted(i["scheme"] for i in images) == ["dark", "light"], (path, images)
            for image in images:
                assert image["complete"] and image["width"] > 0, f"{path}: image not decoded"
                assert len(image["alt"]) > 20, f"{path}: alt text missing or too short"
            assert images[0]["alt"] == images[1]["alt"] == figure["caption"].strip()


def test_the_shown_image_follows_the_colour_scheme(page: Any, site_dir: Path) -> None:
    path = sorted(_pages_with_screenshots(site_dir))[0]
    for scheme in ("light", "dark"):
        for figure in _figures(page, path, scheme):
            shown = [i["scheme"] for i in figure["images"] if i["shown"]]
            assert shown == [scheme], f"{path} in the {scheme} scheme shows {shown}"
    # The reader's own choice (the palette toggle) wins over the system's scheme.
    _figures(page, path, "light")
    page.locator("form[data-md-component=palette] label:visible").first.click()
    page.wait_for_function("() => document.body.dataset.mdColorScheme === 'slate'")
    figure = page.evaluate(_FIGURES_JS)[0]
    assert [i["scheme"] for i in figure["images"] if i["shown"]] == ["dark"]
