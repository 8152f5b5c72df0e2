"""Accessibility: axe-core (npm, injected by Playwright) on a home, guide and reference page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sitekit import ARTIFACTS, AXE_JS, SiteServer, missing, page_paths

BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_JS.is_file():
        missing(f"{AXE_JS} not found: run `make install` (npm ci) to get axe-core")
    return AXE_JS.read_text()


def _sample(site_dir: Path) -> list[str]:
    paths = page_paths(site_dir)
    guide = next((p for p in paths if p.startswith("guides/")), None)
    reference = next(
        (p for p in paths if p.startswith("reference/cli/") and p.count("/") >= 3), None
    )
    assert guide and reference, f"no guide or CLI reference page among {paths[:10]}..."
    return ["", guide, reference]


def _violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    # The WCAG 2.x A/AA rules (the usual conformance target); axe's "best-practice" rules
    # are advisory and mostly about the theme's own markup, so they are not a gate here.
    page.add_script_tag(content=axe_source)
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'],"
        " runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'wcag22aa']}})"
    )
    return result["violations"]


@pytest.mark.parametrize("kind", ["home", "guide", "reference"])
def test_no_serious_accessibility_violations(
    page: Any, site: SiteServer, site_dir: Path, axe_source: str, kind: str
) -> None:
    path = dict(zip(["home", "guide", "reference"], _sample(site_dir), strict=True))[kind]
    page.goto(site.url(path))
    page.locator("h1").first.wait_for()
    violations = _violations(page, axe_source)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{kind}.json").write_text(json.dumps(violations, indent=1))
    blocking = [v for v in violations if v.get("impact") in BLOCKING]
    lines = []
    for v in blocking:
        targets = [" ".join(map(str, n["target"])) for n in v["nodes"][:4]]
        html = [n["html"][:120] for n in v["nodes"][:2]]
        lines.append(
            f"[{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} element(s))\n"
            f"    e.g. {targets}\n    html {html}\n    see {v['helpUrl']}"
        )
    assert not blocking, f"/{path}: serious/critical axe-core violations:\n" + "\n".join(lines)
