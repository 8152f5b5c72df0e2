"""LLM cost report of an experiment, built from its MLflow traces (``ml llm report``).

Every LLM span of every trace counts: model (``mlflow.llm.model``), provider
(``mlflow.llm.provider``, else the message format), tokens (``mlflow.chat.tokenUsage``),
cost (``mlflow.llm.cost``) and latency (span duration). Spans without a known price are
counted in ``unpriced_calls``; their cost is never taken as 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mltrack.errors import MltrackError

__all__ = ["LLMReport", "ReportRow", "llm_report"]

GroupBy = Literal["model", "provider", "day"]
_GROUPS = ("model", "provider", "day")
#: ``LLMReport.experiment`` when no experiment was named or configured.
ALL_EXPERIMENTS = "all experiments"


@dataclass
class ReportRow:
    """Totals of one group (one model, provider or day)."""

    key: str
    calls: int = 0
    tokens_input: int = 0
    tokens_output: int = 0
    cost_usd: float | None = None
    unpriced_calls: int = 0
    latency_p50_ms: float | None = None
    _latencies: list[float] = field(default_factory=list, repr=False)

    def add(self, tokens_in: int, tokens_out: int, cost: float | None, latency_ms: float) -> None:
        self.calls += 1
        self.tokens_input += tokens_in
        self.tokens_output += tokens_out
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd = (self.cost_usd or 0.0) + cost
        self._latencies.append(latency_ms)
        self.latency_p50_ms = statistics.median(self._latencies)

    def as_dict(self) -> dict[str, Any]:
        """The row without private fields."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


@dataclass
class LLMReport:
    """Cost, tokens and latency of the LLM calls in an experiment."""

    experiment: str
    by: str
    traces: int
    rows: list[ReportRow]
    total: ReportRow

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the ``--format json`` output)."""
        return {
            "experiment": self.experiment,
            "by": self.by,
            "traces": self.traces,
            "rows": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
        }

    @property
    def scope(self) -> str:
        """Where the traces came from, for a sentence: ``'name'`` or ``all experiments``."""
        return self.experiment if self.experiment == ALL_EXPERIMENTS else f"'{self.experiment}'"

    def describe_empty(self) -> str:
        """What to say instead of a table of zeros."""
        return (
            f"no LLM calls in {self.scope} ({_traces(self.traces)} read): trace them with "
            "@mltrack.track_llm or `with mltrack.track_llm():`"
        )

    def to_json(self) -> str:
        """Indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """A Markdown table with a total line."""
        header = (
            f"| {self.by} | calls | input tokens | output tokens | cost (USD) | p50 latency (ms) |"
        )
        lines = [header, "|---|---:|---:|---:|---:|---:|"]
        for row in [*self.rows, self.total]:
            cells = _cells(row)
            if row is self.total:
                cells = [f"**{c}**" for c in cells]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _traces(count: int) -> str:
    return f"{count} trace" if count == 1 else f"{count} traces"


def _cost_text(row: ReportRow) -> str:
    if row.cost_usd is None:
        return "unknown" if row.calls else "0"
    text = f"{row.cost_usd:.8f}"
    return text + (f" (+{row.unpriced_calls} unpriced)" if row.unpriced_calls else "")


def _cells(row: ReportRow) -> list[str]:
    latency = "" if row.latency_p50_ms is None else f"{row.latency_p50_ms:.1f}"
    return [
        row.key,
        str(row.calls),
        str(row.tokens_input),
        str(row.tokens_output),
        _cost_text(row),
        latency,
    ]


def render_table(report: LLMReport) -> Any:
    """A rich Table of the report."""
    from rich.table import Table

    table = Table(title=f"LLM usage in {report.scope} by {report.by} ({_traces(report.traces)})")
    table.add_column(report.by)
    for name in ("calls", "input tokens", "output tokens", "cost (USD)", "p50 latency (ms)"):
        table.add_column(name, justify="right")
    for row in report.rows:
        table.add_row(*_cells(row))
    table.add_section()
    table.add_row(*_cells(report.total), style="bold")
    return table


def _experiments(client: Any, name: str | None) -> tuple[str, list[str]]:
    if name is None:
        from mltrack.config import load_settings

        name = load_settings().experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or None
    if name is None:
        found = client.search_experiments()
        return ALL_EXPERIMENTS, [e.experiment_id for e in found]
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise MltrackError(
            f"no experiment named '{name}' on the tracking server; check the name "
            "(experiments are listed in the MLflow UI) or set MLFLOW_TRACKING_URI"
        )
    return name, [experiment.experiment_id]


def _llm_spans(trace: Any) -> list[dict[str, Any]]:
    from mlflow.tracing.constant import SpanAttributeKey

    out = []
    for span in trace.data.spans:
        usage = span.get_attribute(SpanAttributeKey.CHAT_USAGE)
        model = span.get_attribute(SpanAttributeKey.MODEL)
        if not usage and not model:
            continue
        if span.span_type not in ("CHAT_MODEL", "LLM") and not usage:
            continue
        cost = span.get_attribute(SpanAttributeKey.LLM_COST)
        provider = span.get_attribute(SpanAttributeKey.MODEL_PROVIDER) or span.get_attribute(
            SpanAttributeKey.MESSAGE_FORMAT
        )
        start = span.start_time_ns or 0
        out.append(
            {
                "model": str(model or "unknown"),
                "provider": str(provider or "unknown"),
                "day": dt.datetime.fromtimestamp(start / 1e9, tz=dt.UTC).date().isoformat(),
                "tokens_in": int((usage or {}).get("input_tokens") or 0),
                "tokens_out": int((usage or {}).get("output_tokens") or 0),
                "cost": float(cost["total_cost"])
                if isinstance(cost, dict) and "total_cost" in cost
                else None,
                "latency_ms": ((span.end_time_ns or start) - start) / 1e6,
            }
        )
    return out


def llm_report(
    experiment: str | None = None, by: str = "model", max_traces: int = 10_000
) -> LLMReport:
    """Summarise the LLM calls recorded in an experiment's traces.

    Args:
        experiment: experiment name; default ``experiment`` from the settings, then
            ``MLFLOW_EXPERIMENT_NAME``, else every experiment.
        by: group rows by ``model``, ``provider`` or ``day`` (UTC).
        max_traces: most recent traces to read at most.

    Raises:
        MltrackError: unknown experiment, or a bad ``by``.
    """
    if by not in _GROUPS:
        raise MltrackError(f"cannot group by '{by}'; use one of: {', '.join(_GROUPS)}")
    import mlflow

    try:
        from mltrack.store import tracking_store

        tracking_store()
    except ImportError:  # pragma: no cover - core tracking module missing
        pass
    client = mlflow.MlflowClient()
    label, ids = _experiments(client, experiment)
    rows: dict[str, ReportRow] = {}
    total = ReportRow("total")
    count = 0
    token = None
    while ids and count < max_traces:
        page = client.search_traces(
            locations=ids,
            max_results=min(500, max_traces - count),
            order_by=["timestamp_ms DESC"],
            page_token=token,
            include_spans=True,
        )
        for trace in page:
            count += 1
            for call in _llm_spans(trace):
                key = call[by]
                row = rows.setdefault(key, ReportRow(key))
                for target in (row, total):
                    target.add(
                        call["tokens_in"], call["tokens_out"], call["cost"], call["latency_ms"]
                    )
        token = page.token
        if not token:
            break
    ordered = sorted(rows.values(), key=lambda r: r.key if by == "day" else -(r.cost_usd or 0.0))
    return LLMReport(label, by, count, ordered, total)
