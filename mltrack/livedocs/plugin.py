"""MkDocs plugin ``livedocs``: the only module of the engine that knows about MkDocs.

``mkdocs.yml``::

    plugins:
      - search
      - livedocs          # before mkdocs-jupyter and mkdocstrings
      - mkdocs-jupyter:
          include: ["*.ipynb"]
          execute: false  # livedocs already executed the notebooks
      - mkdocstrings

Events used: ``on_startup`` (serve or build), ``on_config`` (engine settings),
``on_files`` (generate reference pages, plan, execute, hand executed notebooks over),
``on_nav`` (list generated reference pages under their index), ``on_page_markdown``
(directives -> tabs), ``on_page_content`` (placeholders -> captured output),
``on_serve`` (watch examples and notebooks).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from html import escape
from pathlib import Path
from typing import Any

from mkdocs.config import config_options
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.nav import Navigation, Section
from mkdocs.structure.pages import Page

from mltrack.errors import LiveDocsError, MltrackError
from mltrack.livedocs.engine import LiveDocsEngine, config_from_settings
from mltrack.livedocs.model import Plan
from mltrack.livedocs.render import error_html, fill_fragments
from mltrack.livedocs.runner import BuildReport

__all__ = ["LiveDocsPlugin", "LiveDocsPluginConfig"]

log = logging.getLogger("mkdocs.plugins.livedocs")

_ENGINES: dict[Path, LiveDocsEngine] = {}

# nbconvert lists its exporters twice while it is imported (for two help texts): 34 scans
# of every installed distribution's entry points and 34 exporters built, half a second of
# every build that renders notebooks. Its own switch skips that list. It is on only while
# MkDocs imports the plugins configured after this one (mkdocs-jupyter imports nbconvert),
# and off again at startup, so nothing the build runs sees it.
_NBCONVERT_SWITCH = "NBCONVERT_DISABLE_CONFIG_EXPORTERS"
_switch_set_here = _NBCONVERT_SWITCH not in os.environ
if _switch_set_here:
    os.environ[_NBCONVERT_SWITCH] = "1"


def _restore_nbconvert_switch() -> None:
    global _switch_set_here
    if _switch_set_here:
        os.environ.pop(_NBCONVERT_SWITCH, None)
        _switch_set_here = False


class LiveDocsPluginConfig(Config):
    """Options of the ``livedocs`` plugin in ``mkdocs.yml`` (settings win when unset)."""

    examples_dirs = config_options.Type(list, default=["examples"])
    notebooks_dir = config_options.Type(str, default="notebooks")
    notebooks_dest = config_options.Type(str, default="notebooks")
    jobs = config_options.Optional(config_options.Type(int))
    timeout_s = config_options.Optional(config_options.Type(float))
    reference = config_options.Type(bool, default=True)
    enabled = config_options.Type(bool, default=True)


class LiveDocsPlugin(BasePlugin[LiveDocsPluginConfig]):
    """Executes the examples, notebooks and CLI captures pages embed, at build time."""

    def __init__(self) -> None:
        self.command = "build"
        self.engine: LiveDocsEngine | None = None
        self.plan: Plan = Plan()
        self.report: BuildReport = BuildReport()
        self.fragments: dict[str, dict[str, str]] = {}
        self.page_errors: dict[str, str] = {}
        self.generated: dict[str, list[str]] = {}
        self.notebook_sources: dict[str, str] = {}
        self._mkdocs_config: MkDocsConfig | None = None

    # -- setup --------------------------------------------------------------------------

    def on_startup(self, *, command: str, dirty: bool) -> None:
        _restore_nbconvert_switch()
        self.command = command

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        _restore_nbconvert_switch()  # when built without a startup event (an API call)
        self._mkdocs_config = config
        root = Path(config.config_file_path or ".").resolve().parent
        docs_dir = os.path.relpath(config.docs_dir, root)
        try:
            engine_config = config_from_settings(
                root,
                docs_dir=docs_dir,
                examples_dirs=tuple(self.config.examples_dirs),
                notebooks_dir=self.config.notebooks_dir,
                jobs=self.config.jobs,
                timeout_s=self.config.timeout_s,
            )
        except MltrackError as exc:
            raise PluginError(f"livedocs: {exc}") from None
        # While serving, the next rebuild's tracking server is started ahead of the save.
        engine_config = dataclasses.replace(engine_config, spare_server=self.command == "serve")
        # `mkdocs serve` creates new plugin instances on every rebuild; the engine outlives
        # them so that an unchanged failing item is not re-run on each save.
        engine = _ENGINES.get(root)
        if engine is None or engine.config != engine_config:
            engine = _ENGINES[root] = LiveDocsEngine(engine_config)
        self.engine = engine
        return config

    @property
    def strict(self) -> bool:
        config = self._mkdocs_config
        return self.command != "serve" and config is not None and bool(config.get("strict"))

    # -- files: generate, plan, execute -------------------------------------------------

    @event_priority(50)  # before mkdocs-jupyter wraps the notebooks
    def on_files(self, files: Files, *, config: MkDocsConfig) -> Files:
        if not self.config.enabled or self.engine is None:
            return files
        if self.config.reference:
            self._add_reference_pages(files, config)
        pages = {
            f"{self.engine.config.docs_dir}/{f.src_uri}": f.content_string
            for f in files.documentation_pages()
            if f.src_uri.endswith(".md")
        }
        self.plan = self.engine.plan(pages)
        self.report = self.engine.execute(self.plan)
        self.engine.runner.cache.prune(keep={item.key for item in self.plan.items.values()})
        if self.config.reference:
            self._add_build_report(files, config)
        self._add_notebooks(files, config)
        self._report_problems()
        return files

    def _add_reference_pages(self, files: Files, config: MkDocsConfig) -> None:
        from mltrack.livedocs.reference import reference_pages

        self.generated = {}
        for uri, content in reference_pages().items():
            if files.get_file_from_path(uri) is not None:
                continue  # a hand-written page of that name wins
            # Listed under their index page by `on_nav`, so no "not in nav" notice.
            files.append(
                File.generated(config, uri, content=content, inclusion=InclusionLevel.NOT_IN_NAV)
            )
            folder = uri.rsplit("/", 1)[0]
            self.generated.setdefault(folder, []).append(uri)

    def _add_build_report(self, files: Files, config: MkDocsConfig) -> None:
        from mltrack.livedocs.reference import build_report_page

        # A page about the build, for contributors: listed under Contributing in the nav.
        uri = "contributing/build-report.md"
        if files.get_file_from_path(uri) is None:
            content = build_report_page(self.report.to_json())
            files.append(File.generated(config, uri, content=content))
            self.generated.setdefault("contributing", []).append(uri)  # no edit button

    def _add_notebooks(self, files: Files, config: MkDocsConfig) -> None:
        assert self.engine is not None
        root = self.engine.config.root
        self.page_errors = {}
        stage = self.engine.config.cache_path / "site-notebooks"
        shutil.rmtree(stage, ignore_errors=True)
        for item in self.plan.items.values():
            if item.kind != "notebook" or item.path is None:
                continue
            rel = os.path.relpath(item.path, self.engine.config.notebooks_dir)
            uri = f"{self.config.notebooks_dest}/{rel}".replace(os.sep, "/")
            self.notebook_sources[uri] = item.path
            result = self.report.results.get(item.id)
            source = root / item.path
            if result is not None and result.ok and result.notebook:
                source = Path(result.notebook)  # the executed copy: no second execution
            elif result is not None:
                from mltrack.livedocs.runner import format_failure

                message = format_failure(item, result)
                self.page_errors[uri] = error_html(message, f"{item.id} failed")
            # mkdocs-jupyter reads `src_dir/src_uri`, so stage the copy under the page's URI.
            staged = stage / uri
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staged)
            # The copy becomes the page and the download: no output of it unredacted.
            self.engine.redact_notebook_file(staged)
            existing = files.get_file_from_path(uri)
            if existing is not None:
                files.remove(existing)
            files.append(
                File(
                    uri,
                    src_dir=str(stage),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                )
            )

    def _report_problems(self) -> None:
        assert self.engine is not None
        errors = [str(p) for p in self.plan.problems] + self.engine.failures(self.plan, self.report)
        unreferenced = [
            f"{path}: example is not embedded by any page; add a livedocs block or delete it"
            for path in self.plan.unreferenced
        ]
        if self.strict:
            if self.engine.config.strict_unreferenced:
                errors += unreferenced
            else:
                for message in unreferenced:
                    log.warning(message)
            if errors:
                count = f"{len(errors)} live docs item(s) failed"
                raise PluginError(f"livedocs: {count}:\n\n" + "\n\n".join(errors))
            return
        for message in unreferenced:
            log.warning(message)
        for message in errors:
            log.warning("livedocs: %s", message)

    # -- nav ---------------------------------------------------------------------------

    def on_nav(self, nav: Navigation, *, config: MkDocsConfig, files: Files) -> Navigation:
        """Put generated pages (one per CLI command / API module) under their index page."""
        from mkdocs.structure.nav import _add_parent_links, _add_previous_and_next_links

        changed = False
        for folder, uris in self.generated.items():
            index_uri = f"{folder}/index.md"
            changed |= self._nest(nav.items, index_uri, uris, files)
        if changed:
            nav.pages = [p for p in _flatten(nav.items) if isinstance(p, Page)]
            _add_previous_and_next_links(nav.pages)
            _add_parent_links(nav.items)
        return nav

    def _nest(self, items: list[Any], index_uri: str, uris: list[str], files: Files) -> bool:
        for position, entry in enumerate(items):
            if isinstance(entry, Section):
                if self._nest(entry.children, index_uri, uris, files):
                    return True
            elif isinstance(entry, Page) and entry.file.src_uri == index_uri:
                in_nav = {p.file.src_uri for p in _flatten(items) if isinstance(p, Page)}
                children: list[Any] = [entry]
                # In the generator's order: the API reference is in reading order (groups),
                # the CLI's in command order.
                for uri in uris:
                    file = files.get_file_from_path(uri)
                    if uri == index_uri or uri in in_nav or file is None or file.page is None:
                        continue
                    children.append(file.page)
                if len(children) == 1:
                    return False
                items[position] = Section(entry.title or index_uri, children)
                return True
        return False

    # -- pages ---------------------------------------------------------------------------

    def on_page_markdown(
        self, markdown: str, *, page: Page, config: MkDocsConfig, files: Files
    ) -> str:
        if self.engine is None or not self.config.enabled:
            return markdown
        self._fix_edit_url(page, config)
        name = f"{self.engine.config.docs_dir}/{page.file.src_uri}"
        # MkDocs hands over the Markdown without the front matter: blocks are planned at
        # their line in the file.
        source = page.file.content_string
        first_line = (
            source.count("\n") - markdown.count("\n") + 1 if source.endswith(markdown) else 1
        )
        try:
            rendered = self.engine.render_page(
                name, markdown, self.plan, self.report, first_line=first_line
            )
        except LiveDocsError as exc:
            if self.strict:
                raise PluginError(f"livedocs: {exc}") from None
            log.warning("livedocs: %s", exc)
            return markdown
        self.fragments[page.file.src_uri] = rendered.fragments
        return rendered.markdown

    def _fix_edit_url(self, page: Page, config: MkDocsConfig) -> None:
        """Generated pages have no source to edit; notebooks are edited under notebooks/."""
        uri = page.file.src_uri
        if any(uri in uris for uris in self.generated.values()):
            page.edit_url = None
        elif uri in self.notebook_sources and config.repo_url and page.edit_url:
            edit_uri = config.edit_uri or ""
            base = config.repo_url.rstrip("/") + "/" + edit_uri.split("docs/")[0].strip("/")
            page.edit_url = f"{base}/{self.notebook_sources[uri]}"

    def on_page_content(self, html: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        fragments = self.fragments.pop(page.file.src_uri, None)
        if fragments:
            html = fill_fragments(html, fragments)
        error = self.page_errors.get(page.file.src_uri)
        if error:
            html = error + html
        source = self.notebook_sources.get(page.file.src_uri)
        if source is not None:
            # The whole page is the notebook livedocs executed: mark it like any rendering.
            html = f'<div class="livedocs" data-livedocs-item="{escape(source)}">{html}</div>'
        return html

    def on_shutdown(self) -> None:
        # `mkdocs serve` ends: stop the spare tracking server (it would die with this
        # process anyway; this also removes its directory).
        for engine in _ENGINES.values():
            engine.runner.close()

    def on_serve(self, server: Any, *, config: MkDocsConfig, builder: Any) -> Any:
        if self.engine is None:
            return server
        root = self.engine.config.root
        for name in [*self.engine.config.examples_dirs, self.engine.config.notebooks_dir]:
            if (root / name).is_dir():
                server.watch(str(root / name))
        return server


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for entry in items:
        if isinstance(entry, Section):
            out += _flatten(entry.children)
        else:
            out.append(entry)
    return out
