"""`ml llm report`: cost, tokens and latency of LLM calls, from MLflow traces.

MLflow is imported inside the command so that ``ml --help`` stays fast.
"""

from __future__ import annotations

from enum import StrEnum

import typer

from mltrack.cli._app import app, choose_format, console
from mltrack.errors import MltrackError

__all__ = ["llm_app", "report"]

llm_app = typer.Typer(
    help="LLM usage: cost, tokens and latency recorded by @track_llm (or any MLflow trace).",
    no_args_is_help=True,
)
app.add_typer(llm_app, name="llm")


class ReportFormat(StrEnum):
    """Output formats of ``ml llm report``."""

    table = "table"
    markdown = "markdown"
    json = "json"


class GroupBy(StrEnum):
    """Grouping of ``ml llm report`` rows."""

    model = "model"
    provider = "provider"
    day = "day"


@llm_app.command()
def report(
    experiment: str | None = typer.Argument(
        None,
        help="Experiment name; default: `experiment` in .mltrack.yml, then "
        "MLFLOW_EXPERIMENT_NAME, else every experiment.",
    ),
    output_format: str = typer.Option(
        "table",
        "--format",
        "-f",
        metavar="<table|markdown|json>",
        help="table, markdown (also: md) or json.",
    ),
    by: GroupBy = typer.Option(
        GroupBy.model, "--by", help="Group rows by model, provider or day (UTC)."
    ),
    max_traces: int = typer.Option(
        10_000, "--max-traces", min=1, help="Most recent traces to read."
    ),
    experiment_option: str | None = typer.Option(
        None, "--experiment", "-e", help="The experiment, as `ml runs -e` names it."
    ),
) -> None:
    """Cost, tokens and p50 latency of the LLM calls in EXPERIMENT's traces.

    Calls without a known price are counted as unpriced, never as $0.
    """
    from mltrack.llm.report import llm_report, render_table

    if experiment and experiment_option and experiment != experiment_option:
        raise MltrackError(
            f"two experiments given ('{experiment}' and --experiment '{experiment_option}'); "
            "pass one"
        )
    experiment = experiment or experiment_option

    kind = ReportFormat(choose_format(output_format, tuple(ReportFormat)))
    result = llm_report(experiment, by=by.value, max_traces=max_traces)
    if kind is ReportFormat.json:
        # plain print: JSON must not be wrapped or highlighted
        typer.echo(result.to_json())
    elif kind is ReportFormat.markdown:
        typer.echo(result.to_markdown())
    elif result.total.calls == 0:
        console.print(result.describe_empty(), highlight=False)
    else:
        console.print(render_table(result))
