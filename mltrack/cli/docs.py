"""``ml docs run`` and ``ml docs check``: execute the live docs without building a site.

Works for any project whose Markdown pages embed scripts with ``livedocs`` blocks, not
only mltrack's own docs: point ``--root`` at it.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mltrack.cli._app import app, console, err_console
from mltrack.errors import LiveDocsError

docs_app = typer.Typer(
    help="Execute the examples, notebooks and CLI captures the docs embed.",
    no_args_is_help=True,
)
app.add_typer(docs_app, name="docs")

_FAILED_EXIT = 1


def _engine(
    root: Path,
    docs_dir: str,
    examples_dirs: list[str] | None,
    notebooks_dir: str,
    jobs: int | None,
    timeout: float | None,
) -> object:
    from mltrack.livedocs.engine import LiveDocsEngine, config_from_settings

    root = root.resolve()
    if not (root / docs_dir).is_dir():
        raise LiveDocsError(f"no docs directory {root / docs_dir}; pass --root or --docs-dir")
    config = config_from_settings(
        root,
        docs_dir=docs_dir,
        examples_dirs=tuple(examples_dirs) if examples_dirs else None,
        notebooks_dir=notebooks_dir,
        jobs=jobs,
        timeout_s=timeout,
    )
    return LiveDocsEngine(config)


def _select(plan: object, root: Path, paths: list[Path]) -> None:
    """Keep only the items named (scripts/notebooks) or embedded by the named pages."""
    from mltrack.livedocs.model import Plan

    assert isinstance(plan, Plan)
    wanted = {
        str(p.resolve().relative_to(root)) if p.is_absolute() or p.exists() else str(p)
        for p in paths
    }
    keep = {
        item_id: item
        for item_id, item in plan.items.items()
        if item.path in wanted or any(ref.page in wanted for ref in item.refs)
    }
    missing = (
        wanted - {i.path for i in keep.values()} - {r.page for i in keep.values() for r in i.refs}
    )
    if missing:
        raise LiveDocsError(
            f"not embedded by any page: {', '.join(sorted(missing))}; check the path"
        )
    plan.items = keep
    plan.unreferenced = []


def _snapshots(engine: object, plan: object, report: object, update: bool) -> list[str]:
    """Write snapshots (``update``) or compare with them; return drift messages."""
    from mltrack.livedocs import snapshots
    from mltrack.livedocs.engine import LiveDocsEngine
    from mltrack.livedocs.model import Plan
    from mltrack.livedocs.runner import BuildReport

    assert isinstance(engine, LiveDocsEngine) and isinstance(report, BuildReport)
    assert isinstance(plan, Plan)
    results = sorted(report.results.values(), key=lambda r: r.id)
    root = engine.config.root
    masks = snapshots.item_masks(root, plan.items)
    if update:
        for path in snapshots.write(root, results, masks):
            console.print(f"snapshot written: {path.relative_to(root)}")
        return []
    drifts = snapshots.compare(root, results, masks)
    for item_id, diff in drifts.items():
        err_console.print(f"[red]snapshot drift:[/] {item_id}", highlight=False)
        err_console.print(diff, markup=False, highlight=False)
    hint = "; review the diff and run `ml docs snapshot --update` to accept it"
    return [f"{item_id}: output differs from its snapshot{hint}" for item_id in drifts]


def _run(
    check: bool,
    paths: list[Path],
    root: Path,
    docs_dir: str,
    examples_dirs: list[str] | None,
    notebooks_dir: str,
    jobs: int | None,
    timeout: float | None,
    no_cache: bool,
    snapshots: str | None = None,
) -> None:
    from rich.table import Table

    from mltrack.livedocs.engine import LiveDocsEngine

    engine = _engine(root, docs_dir, examples_dirs, notebooks_dir, jobs, timeout)
    assert isinstance(engine, LiveDocsEngine)
    plan = engine.plan(engine.read_pages())
    if paths:
        _select(plan, engine.config.root, paths)
    report = engine.execute(plan, force=no_cache)
    table = Table("item", "status", "seconds", "cached", title="live docs")
    for result in sorted(report.results.values(), key=lambda r: r.id):
        status = "[green]ok[/]" if result.ok else "[red]failed[/]"
        table.add_row(result.id, status, f"{result.duration_s:.1f}", "yes" if result.cached else "")
    console.print(table)
    problems = [*map(str, plan.problems), *engine.failures(plan, report)]
    for path in plan.unreferenced:
        message = f"{path}: example is not embedded by any page"
        if check and engine.config.strict_unreferenced:
            problems.append(message)
        else:
            err_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    if snapshots is not None:
        problems += _snapshots(engine, plan, report, update=snapshots == "update")
    for problem in problems:
        err_console.print(f"[red]error:[/] {problem}", highlight=False, soft_wrap=True)
    executed, cached = len(report.executed), sum(r.cached for r in report.results.values())
    console.print(
        f"{len(report.results)} item(s): {executed} executed, {cached} cached, "
        f"{len(report.failures)} failed in {report.wall_s:.1f} s"
    )
    if check and problems:
        raise typer.Exit(_FAILED_EXIT)


_PATHS = typer.Argument(None, help="Only these scripts/notebooks/pages (default: all).")
_ROOT = typer.Option(Path("."), "--root", help="Project root (holds docs/ and examples/).")
_DOCS = typer.Option("docs", "--docs-dir", help="Markdown pages, relative to the root.")
_EXAMPLES = typer.Option(
    None,
    "--examples-dir",
    metavar="<dir>",
    help="Directory of examples that pages must embed (repeatable).",
)
_NOTEBOOKS = typer.Option("notebooks", "--notebooks-dir", help="Notebooks to execute.")
_JOBS = typer.Option(None, "--jobs", "-j", min=1, help="Parallel workers (default: CPU count).")
_TIMEOUT = typer.Option(None, "--timeout", help="Default per-item timeout in seconds.")
_NO_CACHE = typer.Option(
    False,
    "--no-cache",
    help="Execute everything, ignoring cached results (env MLTRACK_NO_CACHE=1).",
)


@docs_app.command("run")
def run_cmd(
    paths: list[Path] | None = _PATHS,
    root: Path = _ROOT,
    docs_dir: str = _DOCS,
    examples_dir: list[str] | None = _EXAMPLES,
    notebooks_dir: str = _NOTEBOOKS,
    jobs: int | None = _JOBS,
    timeout: float | None = _TIMEOUT,
    no_cache: bool = _NO_CACHE,
) -> None:
    """Execute what the docs embed (cached items are skipped) and print a report.

    Examples:
        ml docs run
        ml docs run examples/quickstart.py --no-cache
    """
    _run(False, paths or [], root, docs_dir, examples_dir, notebooks_dir, jobs, timeout, no_cache)


@docs_app.command("check")
def check_cmd(
    paths: list[Path] | None = _PATHS,
    root: Path = _ROOT,
    docs_dir: str = _DOCS,
    examples_dir: list[str] | None = _EXAMPLES,
    notebooks_dir: str = _NOTEBOOKS,
    jobs: int | None = _JOBS,
    timeout: float | None = _TIMEOUT,
    no_cache: bool = _NO_CACHE,
    snapshots: bool = typer.Option(
        False, "--snapshots", help="Also fail when an output drifts from its snapshot."
    ),
) -> None:
    """Like `ml docs run`, but exit with status 1 on any failure or unreferenced example (CI).

    With --snapshots the outputs must also match the committed snapshots under
    `docs/_snapshots/`; a drift prints a unified diff.

    Examples:
        ml docs check
        ml docs check --snapshots --jobs 4
    """
    mode = "compare" if snapshots else None
    _run(
        True,
        paths or [],
        root,
        docs_dir,
        examples_dir,
        notebooks_dir,
        jobs,
        timeout,
        no_cache,
        mode,
    )


@docs_app.command("snapshot")
def snapshot_cmd(
    paths: list[Path] | None = _PATHS,
    update: bool = typer.Option(
        False,
        "--update",
        help="Write the snapshots. Without it: compare with them and exit with status 1 on a "
        "drift, a failed item or an unreferenced example, as `ml docs check --snapshots` does.",
    ),
    root: Path = _ROOT,
    docs_dir: str = _DOCS,
    examples_dir: list[str] | None = _EXAMPLES,
    notebooks_dir: str = _NOTEBOOKS,
    jobs: int | None = _JOBS,
    timeout: float | None = _TIMEOUT,
    no_cache: bool = _NO_CACHE,
) -> None:
    """Compare the outputs with their snapshots, or write them with --update.

    Snapshots are the normalised outputs (run ids, times, paths masked) under
    `docs/_snapshots/`. Without --update this is `ml docs check --snapshots`: a drift
    prints a unified diff, and the exit status is 1 on a drift, a failed item or an
    unreferenced example. Commit the files that --update writes: CI then fails when an
    output drifts.

    Examples:
        ml docs snapshot --update
    """
    mode = "update" if update else "compare"
    _run(
        update is False,
        paths or [],
        root,
        docs_dir,
        examples_dir,
        notebooks_dir,
        jobs,
        timeout,
        no_cache,
        mode,
    )
