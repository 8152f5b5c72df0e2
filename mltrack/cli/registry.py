"""`ml save`, `ml models`, `ml promote`, `ml card` and `ml compare` (registered on import).

mlflow, pandas and matplotlib are imported inside the commands so that ``ml --help`` stays
fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from mltrack.cli._app import (
    app,
    choose_format,
    console,
    json_alias_option,
    list_format,
    list_format_option,
)
from mltrack.cli._tables import headline_metrics
from mltrack.errors import MltrackError

__all__ = ["card", "compare", "models", "promote", "save"]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


@app.command()
def save(
    name: str = typer.Argument(..., help="Registered model name (created on first use)."),
    run: str | None = typer.Option(
        None, "--run", help="Run whose logged model to register; default: the latest one."
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", "-e", help="Experiment searched when --run is not given."
    ),
    description: str | None = typer.Option(None, "--description", help="Text for the version."),
) -> None:
    """Register the model logged in a run as a new version of NAME; print its URI.

    Without --run, the most recent run of the configured experiment that logged a model
    is used.
    """
    from mltrack import registry

    uri = registry.logged_model_of_run(run) if run else registry.latest_logged_model(experiment)
    info = registry.register(uri, name, description=description, quiet=True)
    console.print(info.uri, highlight=False, soft_wrap=True)


@app.command()
def models(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="A registered model: list its versions."),
    fmt: str = list_format_option(),
    json_alias: bool = json_alias_option(),
) -> None:
    """List registered models, or the versions of NAME with metrics and aliases."""
    from mltrack import registry

    as_json = list_format(ctx, fmt, json_alias) == "json"

    if name is None:
        summaries = registry.list_models()
        if as_json:
            rows = [
                {"name": m.name, "latest_version": m.latest_version, "aliases": m.aliases}
                for m in summaries
            ]
            console.print_json(json.dumps(rows))
            return
        if not summaries:
            console.print("No registered models yet; create one with `ml save NAME`.")
            return
        table = Table("name", "latest", "aliases", "updated (UTC)", "description")
        for m in summaries:
            aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items()))
            updated = m.updated_at.strftime("%Y-%m-%d %H:%M") if m.updated_at else "-"
            table.add_row(m.name, m.latest_version or "-", aliases, updated, m.description or "")
        console.print(table)
        return
    versions = registry.list_versions(name)
    metric_names = headline_metrics((k for v in versions for k in v.metrics), limit=6)
    if as_json:
        version_rows: list[dict[str, Any]] = [
            {
                "version": v.version,
                "uri": v.uri,
                "aliases": list(v.aliases),
                "run_id": v.run_id,
                "flavor": v.flavor,
                "metrics": v.metrics,
            }
            for v in versions
        ]
        console.print_json(json.dumps(version_rows))
        return
    table = Table("version", "aliases", "flavor", *metric_names, "run", "created (UTC)", title=name)
    for v in versions:
        created = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else "-"
        table.add_row(
            v.version,
            ", ".join(v.aliases),
            v.flavor or "-",
            *[_fmt(v.metrics.get(m)) for m in metric_names],
            (v.run_id or "-")[:8],
            created,
        )
    console.print(table)


@app.command()
def promote(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version number (or an alias, e.g. challenger)."),
    to: str = typer.Option("champion", "--to", help="Alias to move: champion or challenger."),
    reason: str | None = typer.Option(None, "--reason", help="Why; stored on the version."),
) -> None:
    """Move the champion/challenger alias to VERSION and record who, when and why."""
    from mltrack import registry

    info = registry.promote(name, version, to=to, reason=reason)
    previous = info.tags.get(f"mltrack.previous_{to}", "none")
    note = f" (was v{previous})" if previous not in ("none", info.version) else ""
    console.print(f"{name}@{to} → v{info.version}{note}: {info.uri}", highlight=False)


CARD_FORMATS = ("markdown", "html")
COMPARE_FORMATS = ("table", "markdown", "json")


@app.command()
def card(
    ref: str = typer.Argument(
        ..., metavar="RUN_ID_OR_MODEL_URI", help="Run id, runs:/…, models:/NAME/VERSION or @alias."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        metavar="<markdown|html>",
        help="markdown (also: md) or html; default: html for an --output ending in .html, "
        "else markdown.",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
    log: bool = typer.Option(False, "--log", help="Also store the card in the run's artifacts."),
) -> None:
    """Generate a model card (Markdown with YAML front matter, or standalone HTML)."""
    from mltrack.cards import model_card

    if fmt is not None:
        kind = choose_format(fmt, CARD_FORMATS)
    else:
        html_file = output is not None and output.suffix.lower() in (".html", ".htm")
        kind = "html" if html_file else "markdown"
    result = model_card(ref)
    text = result.markdown if kind == "markdown" else result.html
    if output is not None:
        result.save(output, format=kind)
        console.print(f"wrote {output}", highlight=False)
    else:
        print(text)
    if log:
        logged = result.log_to_run()
        console.print(f"logged {', '.join(logged)} to run {result.run_id}", highlight=False)


@app.command()
def compare(
    target: str | None = typer.Argument(
        None,
        metavar="EXPERIMENT_OR_MODEL",
        help="Experiment (with --metric), or a registered model: its champion vs challenger.",
    ),
    metric: str | None = typer.Option(None, "--metric", "-m", help="Metric to rank runs by."),
    champion: str | None = typer.Option(None, "--champion", help="Champion run id or model URI."),
    challenger: str | None = typer.Option(
        None, "--challenger", help="Challenger run id or model URI."
    ),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG chart (experiment mode)."),
    fmt: str = typer.Option(
        "table",
        "--format",
        "-f",
        metavar="<table|markdown|json>",
        help="table, markdown (also: md) or json.",
    ),
    lower_is_better: bool = typer.Option(
        False,
        "--lower-is-better",
        help="Lower values of the metric are better: rank ascending, and a challenger must "
        "lower it. Default: guessed from the metric's name (for a champion/challenger "
        "verdict, promotion.higher_is_better in .mltrack.yml comes first).",
    ),
) -> None:
    """Compare the runs of an experiment, or a champion with a challenger.

    `ml compare EXP --metric M` ranks runs; `ml compare NAME` compares the champion and
    challenger aliases of a registered model; `--champion URI --challenger URI` compares
    any two runs or models. Exit code 0 either way; the recommendation is in the output.
    """
    from mltrack import insights

    kind = choose_format(fmt, COMPARE_FORMATS)
    direction = False if lower_is_better else None
    if (champion is None) != (challenger is None):
        raise MltrackError("pass both --champion and --challenger (run ids or model URIs)")
    if champion is not None and challenger is not None:
        if target is not None:
            raise MltrackError("give either EXPERIMENT_OR_MODEL or --champion/--challenger")
        result: insights.RunComparison | insights.ModelComparison = insights.compare_models(
            champion, challenger, metric=metric, higher_is_better=direction
        )
    elif target is None:
        raise MltrackError(
            "nothing to compare: pass EXPERIMENT --metric M, a registered model NAME, "
            "or --champion URI --challenger URI"
        )
    elif metric is None:
        result = insights.compare_aliases(target, higher_is_better=direction)
    else:
        result = insights.compare_runs(target, metric, higher_is_better=direction)
        if plot is not None:
            result.plot(plot)
    if plot is not None and isinstance(result, insights.ModelComparison):
        raise MltrackError("--plot applies to experiment comparisons (EXPERIMENT --metric M)")
    if kind == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str))
    elif kind == "markdown":
        print(result.to_markdown())
    else:
        result.print_table(console)
    if plot is not None:
        console.print(f"wrote {plot}", highlight=False)
