"""Quality gates over the built files: links and anchors, livedocs markup validity."""

from __future__ import annotations

import re
from pathlib import Path

from sitehtml import check_links, livedocs_markup_problems, parse_site, site_url_from_config


def _pages(site_dir: Path) -> list[Path]:
    return sorted(site_dir.rglob("*.html"))


def test_link_checker_catches_broken_links_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<h2 id="here">x</h2><a href="a/">ok</a><a href="a/#there">ok</a>'
        '<a href="missing/">bad</a><a href="a/#nowhere">bad</a><a href="#here">ok</a>'
        '<a href="https://example.org/x">external</a>'
    )
    (tmp_path / "a" / "index.html").write_text('<p id="there"></p><a href="../#gone">bad</a>')
    problems = check_links(tmp_path, "https://example.github.io/proj/")
    assert len(problems) == 3, problems
    assert any("missing/" in p and "no such file" in p for p in problems)
    assert any("a/#nowhere" in p and "no id 'nowhere'" in p for p in problems)
    assert any(p.startswith("a/index.html") and "no id 'gone'" in p for p in problems)


def test_internal_links_and_anchors_resolve(site_dir: Path, root: Path) -> None:
    parsed = parse_site(site_dir)  # each page parsed once, for the count and the check
    links = sum(len(page.links) for page in parsed.values())
    assert len(parsed) >= 10 and links > 100 * 10, "the crawl found suspiciously few links"
    problems = check_links(site_dir, site_url_from_config(root), parsed)
    assert not problems, f"{len(problems)} broken internal link(s)/anchor(s):\n" + "\n".join(
        problems[:60]
    )


def test_markup_checker_catches_unbalanced_output() -> None:
    good = '<div class="livedocs-output"><pre><code>&lt;/div&gt;</code></pre></div>'
    assert livedocs_markup_problems(good) == (1, [])
    # Captured text that was not escaped closes the block early and leaves tags open.
    bad = '<div class="livedocs-output"><pre><code></div><b>bold</code></pre></div>'
    blocks, problems = livedocs_markup_problems(bad)
    assert blocks == 1 and problems, problems


def test_livedocs_markup_is_balanced_on_every_page(site_dir: Path) -> None:
    total, problems = 0, []
    for page in _pages(site_dir):
        text = page.read_text(errors="replace")
        blocks, found = livedocs_markup_problems(text)
        total += blocks
        rel = page.relative_to(site_dir).as_posix()
        problems += [f"{rel}: {p}" for p in found]
        # Placeholders the engine failed to swap, or escape codes it failed to convert.
        if "LIVEDOCSFRAGMENT" in text:
            problems.append(f"{rel}: an unreplaced LIVEDOCSFRAGMENT placeholder")
        if "\x1b[" in text or "\\x1b[" in text or "[0m" in text:
            problems.append(f"{rel}: raw ANSI escape codes in the HTML")
    assert total >= 5, f"only {total} livedocs blocks in the whole site"
    assert not problems, "\n".join(problems[:60])


_EDIT_LINK = re.compile(r'<a href="([^"]+)"[^>]*rel="edit"')


def _edit_links(site_dir: Path, page: str) -> list[str]:
    return _EDIT_LINK.findall((site_dir / page / "index.html").read_text(errors="replace"))


def test_edit_links_point_at_the_source_file_and_only_where_one_exists(
    site_dir: Path, root: Path
) -> None:
    # A hand-written page: its Markdown file, which exists in the repository.
    [link] = _edit_links(site_dir, "guides/experiment-tracking")
    assert link.endswith("/edit/main/docs/guides/experiment-tracking.md"), link
    assert (root / "docs/guides/experiment-tracking.md").is_file()
    # A notebook page: the notebook under notebooks/, not a docs/ copy.
    [link] = _edit_links(site_dir, "notebooks/quickstart")
    assert link.endswith("/edit/main/notebooks/quickstart.ipynb"), link
    assert (root / "notebooks/quickstart.ipynb").is_file()
    # Generated pages have no source file to edit: no button.
    for generated in ("reference/cli/save", "reference/configuration", "reference/api/mltrack"):
        assert _edit_links(site_dir, generated) == [], f"{generated} has an edit link"


_DOWNLOAD_LINK = re.compile(r'<a href="([^"]+)"[^>]*title="Download the notebook"[^>]*download>')


def test_notebook_pages_offer_the_notebook_for_download(site_dir: Path) -> None:
    """A notebook's prose says "download it": its page links the .ipynb, which is there;
    other pages have no such button."""
    for page in ("notebooks/quickstart", "notebooks/llm_cost_report"):
        html = (site_dir / page / "index.html").read_text(errors="replace")
        [href] = _DOWNLOAD_LINK.findall(html)
        name = page.rsplit("/", 1)[1] + ".ipynb"
        assert href.endswith(name), href
        assert (site_dir / page / name).is_file(), f"{page}: {name} is not in the site"
    guide = (site_dir / "guides/experiment-tracking/index.html").read_text(errors="replace")
    assert not _DOWNLOAD_LINK.findall(guide)
