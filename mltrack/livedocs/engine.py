"""The engine's front door: plan, execute and render, with no site generator involved.

Examples:
    >>> from pathlib import Path
    >>> from mltrack.livedocs import EngineConfig, LiveDocsEngine
    >>> engine = LiveDocsEngine(EngineConfig(root=Path(".")))
    >>> plan = engine.plan(engine.read_pages())          # doctest: +SKIP
    >>> report = engine.execute(plan)                    # doctest: +SKIP
    >>> page = engine.render_page("docs/index.md", text, plan, report)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from mltrack.livedocs.directives import find_directives
from mltrack.livedocs.model import EngineConfig, ItemResult, Plan
from mltrack.livedocs.plan import build_plan
from mltrack.livedocs.redact import Redactor, redact_data, redact_notebook, redactor_for
from mltrack.livedocs.render import Rendered, render_directive
from mltrack.livedocs.runner import BuildReport, ProgressCallback, Runner, format_failure

__all__ = ["LiveDocsEngine", "config_from_settings", "no_cache_requested"]


def no_cache_requested() -> bool:
    """True when ``MLTRACK_NO_CACHE`` asks to ignore cached results."""
    return os.environ.get("MLTRACK_NO_CACHE", "").lower() in ("1", "true", "yes", "on")


def config_from_settings(root: Path, **overrides: object) -> EngineConfig:
    """An :class:`EngineConfig` from ``.mltrack.yml``/``MLTRACK_DOCS__*`` plus overrides."""
    from mltrack.config import load_settings

    docs = load_settings(start=root).docs
    values: dict[str, object] = {
        "root": root,
        "jobs": docs.jobs,
        "timeout_s": docs.timeout_s,
        "cache_dir": docs.cache_dir,
        "kernel_name": docs.kernel_name,
        "redact_env_patterns": tuple(docs.redact_env_patterns),
        "redact_env": tuple(docs.redact_env),
        "redact_patterns": tuple(docs.redact_patterns),
        "strict_unreferenced": docs.strict_unreferenced,
        "warm_pool": docs.warm_pool,
        "use_cache": not no_cache_requested(),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return EngineConfig(**values)  # type: ignore[arg-type]


class LiveDocsEngine:
    """Plan, execute and render live documentation.

    Args:
        config: where pages, examples and the cache are, and how to run items.
        progress: progress callback (default: lines on stderr).
    """

    def __init__(self, config: EngineConfig, progress: ProgressCallback | None = None):
        self.config = config
        self.runner = Runner(config, progress)
        self.redactor = self._redactor()  # an invalid pattern fails here, before any work

    def _redactor(self) -> Redactor:
        config = self.config
        return redactor_for(config.redact_env_patterns, config.redact_env, config.redact_patterns)

    def read_pages(self) -> dict[str, str]:
        """Every Markdown page under ``docs_dir`` (path relative to the root -> text).

        For mltrack's own docs (the root is the checkout this package runs from) the
        reference pages the MkDocs plugin generates are added too, so that ``ml docs``,
        ``pytest --livedocs`` and the site build plan the same examples.
        """
        base = self.config.root / self.config.docs_dir
        pages = {
            str(p.relative_to(self.config.root)): p.read_text(errors="replace")
            for p in sorted(base.rglob("*.md"))
        }
        if Path(__file__).resolve().parents[2] == self.config.root.resolve():
            from mltrack.livedocs.reference import reference_pages

            for uri, text in reference_pages().items():
                pages.setdefault(f"{self.config.docs_dir}/{uri}", text)
        return pages

    def plan(self, pages: dict[str, str], include_notebooks: bool = True) -> Plan:
        """See :func:`mltrack.livedocs.plan.build_plan`."""
        return build_plan(self.config, pages, include_notebooks)

    def execute(self, plan: Plan, force: bool = False) -> BuildReport:
        """Run what is not cached (one server, parallel workers) and return all results."""
        self.redactor = self._redactor()  # the environment of this build
        return self.runner.run(plan, force=force)

    def redact_result(self, result: ItemResult) -> ItemResult:
        """A copy of ``result`` redacted with today's secrets.

        Results were redacted when captured; a cached one may predate a secret in this
        build's environment, so what a page shows goes through the redactor once more.
        """
        redact = self.redactor
        error = result.error and dataclasses.replace(
            result.error,
            message=redact(result.error.message),
            tail=redact(result.error.tail),
            source=result.error.source and redact(result.error.source),
        )
        runs = [
            dataclasses.replace(run, name=redact(run.name), params=redact_data(run.params, redact))
            for run in result.runs
        ]
        return dataclasses.replace(result, output=redact(result.output), error=error, runs=runs)

    def redact_notebook_file(self, path: Path) -> None:
        """Redact every output of the notebook at ``path`` in place (the copy a site
        publishes and offers for download)."""
        nb = json.loads(path.read_text())
        path.write_text(json.dumps(redact_notebook(nb, self.redactor), indent=1))

    def failures(self, plan: Plan, report: BuildReport) -> list[str]:
        """Formatted failures (``page:line -> file:line: Type: message`` + traceback tail)."""
        return [
            format_failure(plan.items[result.id], result)
            for result in report.failures
            if result.id in plan.items
        ]

    def render_page(
        self, page: str, text: str, plan: Plan, report: BuildReport, first_line: int = 1
    ) -> Rendered:
        """Replace every directive of a page by its rendered Markdown.

        Args:
            page: the page's path, as planned (``docs/guide.md``).
            text: its Markdown.
            plan: the plan, which says which item each block (``page:line``) shows.
            report: the results.
            first_line: the line of the page file ``text`` starts at: a site generator
                hands over the Markdown without the YAML front matter, so the blocks'
                lines are counted from there.

        Returns:
            The page's new Markdown and the HTML fragments its placeholders stand for.
        """
        skipped = first_line - 1
        directives = find_directives(page, "\n" * skipped + text)
        lines = ("\n" * skipped + text).split("\n")
        out = Rendered(markdown="")
        for directive in reversed(directives):
            item = plan.item_for(directive.where)
            result: ItemResult | None = report.results.get(item.id) if item else None
            if result is not None:
                result = self.redact_result(result)
            problem = plan.problem_at(directive.where)
            message = problem.message if problem is not None else None
            rendered = render_directive(self.config.root, directive, item, result, message)
            out.fragments.update(rendered.fragments)
            lines[directive.line - 1 : directive.end_line] = rendered.markdown.split("\n")
        out.markdown = "\n".join(lines[skipped:])
        return out
