"""Render ``livedocs`` blocks inside Python-Markdown, from the engine's cache.

For site generators that run Python-Markdown extensions but not MkDocs plugins
(Zensical): the block becomes a ``pymdownx.superfences`` custom fence. ``mkdocs.yml``::

    markdown_extensions:
      - pymdownx.superfences:
          custom_fences:
            - name: livedocs
              class: livedocs
              format: !!python/name:mltrack.livedocs.fence.format_livedocs
            - name: python  # executable snippets: ```python livedocs
              class: highlight
              validator: !!python/name:mltrack.livedocs.fence.validate_snippet
              format: !!python/name:mltrack.livedocs.fence.format_livedocs

Execution stays a separate step before the build (``ml docs run``: parallel, cached, one
throwaway server); the fence only reads the cache, so it needs no plugin hook. Under
MkDocs the ``livedocs`` plugin replaces every block before Python-Markdown sees it, so the
fence is never reached there.

Strict mode (``MLTRACK_LIVEDOCS_STRICT=1``, set by ``make build-zensical``): a block whose
item failed or was never executed fails the build with the same
``page:line -> file:line`` message as the MkDocs build.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mltrack.errors import LiveDocsError
from mltrack.livedocs.directives import Directive, find_directives
from mltrack.livedocs.engine import LiveDocsEngine, config_from_settings
from mltrack.livedocs.model import Plan
from mltrack.livedocs.render import Rendered, error_html, fill_fragments
from mltrack.livedocs.runner import BuildReport, format_failure

__all__ = ["STRICT_ENV"]

#: Set to ``1`` to fail the build on a block whose item failed or never ran.
STRICT_ENV = "MLTRACK_LIVEDOCS_STRICT"


@dataclass
class _Site:
    """The engine, its plan and the cached results, for one state of the sources."""

    stamp: tuple[float, ...]
    engine: LiveDocsEngine
    plan: Plan
    report: BuildReport


_SITES: dict[Path, _Site] = {}


def _stamp(engine: LiveDocsEngine) -> tuple[float, ...]:
    """Changes when a page or the cache changes (``zensical serve`` rebuilds in-process)."""
    config = engine.config
    pages = (config.root / config.docs_dir).rglob("*.md")
    cache = config.cache_path
    times = [p.stat().st_mtime for p in pages]
    times.append(cache.stat().st_mtime if cache.is_dir() else 0.0)
    return (len(times), max(times), sum(times))


def _site(root: Path) -> _Site:
    site = _SITES.get(root)
    engine = site.engine if site is not None else LiveDocsEngine(config_from_settings(root))
    stamp = _stamp(engine)
    if site is not None and site.stamp == stamp:
        return site
    plan = engine.plan(engine.read_pages())
    report = BuildReport()
    for item in plan.items.values():
        hit = engine.runner.cached(item) or engine.runner.cache.load_failure(item.key)
        if hit is not None:
            report.results[item.id] = hit
    site = _SITES[root] = _Site(stamp, engine, plan, report)
    return site


def _context(md: Any) -> tuple[Path, str | None, dict[str, Any] | None]:
    """Project root, page path (relative to the docs dir) and Zensical's config, if known."""
    # Zensical's ContextExtension registers the page being rendered (a Registry, no .get).
    registry = md.preprocessors
    context = registry["rendering_context"] if "rendering_context" in registry else None  # noqa: SIM401
    if context is None:  # plain Python-Markdown: the current directory is the project
        return Path.cwd().resolve(), None, None
    config = getattr(context, "config", None) or {}
    root = Path(config.get("root_dir") or Path.cwd()).resolve()
    return root, getattr(context.page, "path", None), config


def _block_lines(page_text: str, page: str, source: str) -> tuple[int, list[Directive]]:
    """The 1-based line of the block whose body is ``source``, and its directives."""
    wanted = source.strip("\n")
    groups: dict[int, list[Directive]] = {}
    for directive in find_directives(page, page_text):
        groups.setdefault(_block_start(directive, page_text), []).append(directive)
    lines = page_text.split("\n")
    for start, directives in sorted(groups.items()):
        end = max(d.end_line for d in directives)
        indent = directives[0].indent
        body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[start : end - 1]]
        if "\n".join(body).strip("\n") == wanted:
            return start, directives
    raise LiveDocsError(f"{page}: livedocs block not found in the page source")


def _block_start(directive: Directive, page_text: str) -> int:
    """Line of the opening fence (a ``tabs:`` block's directives start at their tab)."""
    lines = page_text.split("\n")
    line = directive.line
    while line > 1 and "livedocs" not in lines[line - 1]:
        line -= 1
    return line


def _render(site: _Site, page: str, source: str) -> tuple[Rendered, list[str]]:
    """The block's rendering (Markdown + HTML fragments) and its failures, if any."""
    root = site.engine.config.root
    text = (root / page).read_text(errors="replace")
    start, directives = _block_lines(text, page, source)
    # The block alone, at its own line numbers, so ids and messages match the page.
    end = max(d.end_line for d in directives)
    indent = directives[0].indent
    lines = text.split("\n")[start - 1 : end]
    block = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines]
    rendered = site.engine.render_page(
        page, "\n".join(block), site.plan, site.report, first_line=start
    )
    return rendered, _failures(site, directives)


def _failures(site: _Site, directives: list[Directive]) -> list[str]:
    out = []
    for directive in directives:
        problem = site.plan.problem_at(directive.where)
        item = site.plan.item_for(directive.where)
        result = site.report.results.get(item.id) if item is not None else None
        if problem is not None:
            out.append(str(problem))
        elif item is None or result is None:
            what = item.id if item is not None else "this block"
            out.append(
                f"{directive.where}: {what} was never executed; run `ml docs run` "
                "before building the site"
            )
        elif not result.ok and "allow_error" not in directive.options:
            out.append(format_failure(item, result))
    return out


def _to_html(markdown_text: str, md: Any, config: dict[str, Any] | None) -> str:
    """Convert the rendering with the page's own extensions (tabs, highlighting, ...)."""
    from markdown import Markdown

    if config is not None:  # Zensical: its configured extensions, as markdown-exec does
        inner = Markdown(
            extensions=config["markdown_extensions"], extension_configs=config["mdx_configs"]
        )
    else:
        inner = Markdown(extensions=list(md.registeredExtensions))
    return inner.convert(markdown_text)


def validate_snippet(
    language: str, inputs: dict[str, str], options: dict[str, str], attrs: dict[str, str], md: Any
) -> bool:
    """``pymdownx.superfences`` validator: claim ```` ```python livedocs ```` blocks only.

    Every other ``python`` block fails it and falls through to the normal highlighter.
    """
    if "livedocs" not in inputs:
        return False
    options.update(inputs)
    return True


def format_livedocs(
    source: str, language: str, class_name: str, options: dict[str, Any], md: Any, **_: Any
) -> str:
    """``pymdownx.superfences`` format function for ```` ```livedocs ```` blocks.

    Raises:
        SuperFencesException: in strict mode, for a block whose item failed, was never
            executed, or could not be planned (``page:line -> file:line: …``).
    """
    from pymdownx.superfences import SuperFencesException

    root, page_path, config = _context(md)
    strict = os.environ.get(STRICT_ENV, "").lower() in ("1", "true", "yes", "on")
    try:
        site = _site(root)
        if page_path is None:
            raise LiveDocsError("livedocs blocks need the page's path (build with Zensical)")
        page = f"{site.engine.config.docs_dir}/{page_path}".replace(os.sep, "/")
        rendered, failures = _render(site, page, source)
    except LiveDocsError as exc:
        if strict:
            raise SuperFencesException(f"livedocs: {exc}") from None
        return error_html(str(exc), "livedocs")
    if failures and strict:
        raise SuperFencesException("livedocs: " + "\n\n".join(failures))
    html = fill_fragments(_to_html(rendered.markdown, md, config), rendered.fragments)
    return _unique_tab_ids(html, md)


_TAB_ID = re.compile(r"__tabbed_(\d+)")
_LINE_SPAN_ID = re.compile(r'id="__span-(\d+)-')


def _unique_tab_ids(html: str, md: Any) -> str:
    """Give this block's tab sets and code line spans ids of their own on the page.

    Each block is converted by a Markdown instance of its own, which numbers tab sets and
    code blocks from the start again: two blocks on one page would share radio ids (and
    switch each other's tabs) and line ids.
    """
    block = getattr(md, "livedocs_blocks", 0) + 1
    md.livedocs_blocks = block
    html = _TAB_ID.sub(rf"__livedocs{block}_\1", html)
    return _LINE_SPAN_ID.sub(rf'id="__span-ld{block}x\1-', html)
