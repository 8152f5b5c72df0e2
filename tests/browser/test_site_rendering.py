"""Rich content renders in the browser: diagrams, notebooks, colour schemes, small screens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sitekit import SiteServer, page_paths

# Material renders a diagram into a *closed* shadow root; open it so the test can look in.
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, Object.assign({}, init, {mode: "open"}));
};
"""

# Elements sticking out to the right of the viewport that no scroll container clips.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden" || o === "clip") return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 1 && !clipped(el)) {
      out.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === "string"
        ? "." + el.className.trim().split(/\\s+/).join(".") : ""} (right edge ${Math.round(r.right)}px)`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, offenders: out.slice(0, 8)};
}"""


def _pages_with(site_dir: Path, needle: str) -> list[str]:
    return [
        p
        for p in page_paths(site_dir)
        if needle in (site_dir / (p + "index.html" if p.endswith("/") or not p else p)).read_text()
    ]


def test_mermaid_diagrams_render_to_svg(context: Any, site: SiteServer, site_dir: Path) -> None:
    pages = _pages_with(site_dir, 'class="mermaid"')
    assert pages, "no page of the site has a mermaid diagram"
    context.add_init_script(OPEN_SHADOW_ROOTS)
    page = context.new_page()
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    problems = []
    for path in pages:
        scripts.clear()
        page.goto(site.url(path))
        expected = len(re.findall(r'<pre class="mermaid"', _html(site_dir, path)))
        try:
            page.wait_for_function(
                "n => [...document.querySelectorAll('.mermaid')].filter(el =>"
                " el.shadowRoot && el.shadowRoot.querySelector('svg')).length >= n",
                arg=expected,
                timeout=15_000,
            )
        except Exception:
            remote = [u for u in scripts if "mermaid" in u and not u.startswith(site.base_url)]
            why = f" (mermaid is loaded from {remote}, outside the site)" if remote else ""
            problems.append(f"/{path}: {expected} mermaid block(s), no SVG after 15 s{why}")
            continue
        sizes = page.evaluate(
            "[...document.querySelectorAll('.mermaid')].map(el => {"
            " const r = el.shadowRoot.querySelector('svg').getBoundingClientRect();"
            " return [r.width, r.height]; })"
        )
        problems += [f"/{path}: an empty diagram {s}" for s in sizes if min(s) < 20]
    assert not problems, "\n".join(problems)


def _html(site_dir: Path, path: str) -> str:
    return (
        site_dir / (path + "index.html" if path.endswith("/") or not path else path)
    ).read_text()


def test_notebooks_render_with_outputs_and_images(
    page: Any, site: SiteServer, site_dir: Path
) -> None:
    pages = [p for p in page_paths(site_dir) if "jp-Notebook" in _html(site_dir, p)]
    assert pages, "no notebook page in the site (mkdocs-jupyter)"
    for path in pages:
        page.goto(site.url(path))
        page.locator(".jp-Notebook").first.wait_for()
        inputs = page.locator(".jp-Cell .jp-InputArea").count()
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        assert inputs >= 1, f"/{path}: no code cells"
        assert any(t.strip() for t in outputs), f"/{path}: no cell output (was it executed?)"
        errors = [t[:200] for t in outputs if "Traceback (most recent call last)" in t]
        assert not errors, f"/{path}: a cell output is an error: {errors}"
        images = page.evaluate(
            "[...document.querySelectorAll('.jp-OutputArea-output img')]"
            ".map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )
        assert images, f"/{path}: no image among the outputs (figures are expected)"
        broken = [i for i in images if not i[0] or i[1] == 0]
        assert not broken, f"/{path}: {len(broken)} image(s) failed to load"


def _scheme(page: Any) -> str:
    return page.evaluate("document.body.getAttribute('data-md-color-scheme')")


def _toggle(page: Any) -> None:
    page.locator("form[data-md-component=palette] label.md-header__button:visible").click()


def test_dark_light_toggle_persists_across_pages(
    context: Any, site: SiteServer, site_dir: Path
) -> None:
    first, other = (
        next(p for p in page_paths(site_dir) if p.startswith(s)) for s in ("guides/", "reference/")
    )
    page = context.new_page()
    page.goto(site.url(first))
    assert _scheme(page) == "default", "a light-scheme browser should get the light palette"
    _toggle(page)
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    page.goto(site.url(other))  # a full load, not an instant-navigation swap
    assert _scheme(page) == "slate", "the dark scheme was forgotten on the next page"
    page.reload()
    assert _scheme(page) == "slate", "the dark scheme was forgotten on reload"
    # The chosen colours really apply (not just the attribute).
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    lum = sum(int(x) for x in re.findall(r"\d+", bg)[:3])
    assert lum < 3 * 100, f"dark scheme but the background is {bg}"
    _toggle(page)
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
    page.goto(site.url(""))
    assert _scheme(page) == "default", "switching back to light did not persist"


@pytest.fixture
def mobile(browser: Any, site: SiteServer) -> Any:
    ctx = browser.new_context(
        base_url=site.base_url,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield ctx
    ctx.close()


def test_guides_fit_a_375px_screen(mobile: Any, site: SiteServer, site_dir: Path) -> None:
    guides = [p for p in page_paths(site_dir) if p.startswith(("guides/", "getting-started/"))]
    assert guides
    page = mobile.new_page()
    problems = []
    for path in guides:
        page.goto(site.url(path))
        result = page.evaluate(OVERFLOWING)
        if result["scrollWidth"] > result["width"] + 1:
            problems.append(
                f"/{path}: page is {result['scrollWidth']}px wide at {result['width']}px; "
                f"sticking out: {result['offenders']}"
            )
    assert not problems, "\n".join(problems)
