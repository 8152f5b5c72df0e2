"""Experiment insights: rank runs, find what moves a metric, champion vs challenger.

* :func:`compare_runs` reads every run of an experiment (in pages of 1000 with
  ``search_runs``, never one request per run), ranks them by a metric, summarises the
  spread and estimates which hyperparameters move the metric.
* :func:`compare_models` puts a champion and a challenger (runs or registered versions)
  side by side and recommends whether to promote the challenger, naming the rule that
  decided (``promotion`` section of ``.mltrack.yml``).
* :func:`compare_aliases` does the same for the ``champion`` and ``challenger`` aliases of
  a registered model.

Every result has ``to_markdown()``, ``to_dict()`` and ``print_table()``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack.cards import metric_direction
from mltrack.config import load_settings
from mltrack.errors import MltrackError
from mltrack.mlflow_errors import mlflow_errors
from mltrack.registry import CHALLENGER, CHAMPION, client, fetch_runs, resolve_model

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

__all__ = [
    "MetricDelta",
    "ModelComparison",
    "ParamEffect",
    "RankedRun",
    "RunComparison",
    "Side",
    "compare_aliases",
    "compare_models",
    "compare_runs",
]

#: Metrics preferred as the primary one when none is configured, in this order.
_PREFERRED = ("f1", "accuracy", "roc_auc", "r2", "rmse", "mae", "log_loss", "loss")


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RankedRun:
    """One run in a ranking."""

    rank: int
    run_id: str
    run_name: str
    value: float
    params: dict[str, str]
    start_time: datetime | None


@dataclass(frozen=True)
class ParamEffect:
    """How strongly one hyperparameter moves the metric.

    ``effect`` is in [0, 1]: the absolute Spearman rank correlation for numeric parameters,
    the share of variance explained by the groups (eta squared) for categorical ones.
    """

    param: str
    kind: str
    effect: float
    strength: str
    n_values: int
    best_value: str
    detail: str


@dataclass
class RunComparison:
    """Result of :func:`compare_runs`."""

    experiment: str
    metric: str
    higher_is_better: bool
    n_runs: int
    ranked: list[RankedRun]
    stats: dict[str, float]
    consistency: str
    param_effects: list[ParamEffect]
    fetch_seconds: float = 0.0

    @property
    def best(self) -> RankedRun:
        """The best run for the metric."""
        return self.ranked[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-serialisable with ``default=str``)."""
        data = asdict(self)
        data["best"] = asdict(self.best)
        return data

    def to_markdown(self, top: int = 10) -> str:
        """A Markdown report: summary, top runs, spread, parameter effects."""
        order = "higher" if self.higher_is_better else "lower"
        best = self.best
        lines = [
            f"# Runs of `{self.experiment}` by `{self.metric}`",
            "",
            f"{len(self.ranked)} of {self.n_runs} runs logged `{self.metric}` ({order} is better)."
            f" Best: **{best.run_name}** (`{best.run_id}`) with {_fmt(best.value)}.",
            "",
            "## Top runs",
            "",
            _md_table(*self._rank_rows(top)),
            "",
            "## Spread",
            "",
            _md_table(
                ["mean", "std", "min", "median", "max", "cv"],
                [[_fmt(self.stats[k]) for k in ("mean", "std", "min", "median", "max", "cv")]],
            ),
            "",
            f"Consistency: {self.consistency}.",
            "",
            "## What moves the metric",
            "",
        ]
        if self.param_effects:
            rows = [
                [f"`{e.param}`", e.kind, f"{e.effect:.2f}", e.strength, e.best_value, e.detail]
                for e in self.param_effects
            ]
            lines.append(
                _md_table(["parameter", "kind", "effect", "strength", "best value", "detail"], rows)
            )
        else:
            lines.append("No parameter varies across these runs.")
        return "\n".join(lines) + "\n"

    def _rank_rows(self, top: int) -> tuple[list[str], list[list[str]]]:
        varying = [e.param for e in self.param_effects][:4]
        headers = ["rank", "run", "run id", self.metric, *varying]
        rows = [
            [str(r.rank), r.run_name, r.run_id[:8], _fmt(r.value)]
            + [r.params.get(p, "-") for p in varying]
            for r in self.ranked[:top]
        ]
        return headers, rows

    def print_table(self, console: Console, top: int = 10) -> None:
        """Print the ranking, spread and parameter effects with rich."""
        from rich.table import Table

        headers, rows = self._rank_rows(top)
        table = Table(*headers, title=f"{self.experiment}: {self.metric}")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        s = self.stats
        console.print(
            f"{len(self.ranked)}/{self.n_runs} runs · mean {_fmt(s['mean'])} ± {_fmt(s['std'])}"
            f" · min {_fmt(s['min'])} · max {_fmt(s['max'])} · {self.consistency}",
            highlight=False,
        )
        if self.param_effects:
            effects = Table("parameter", "effect", "strength", "best value", "detail")
            for e in self.param_effects:
                effects.add_row(e.param, f"{e.effect:.2f}", e.strength, e.best_value, e.detail)
            console.print(effects)

    def plot(self, path: str | Path) -> Path:
        """Write a PNG: the metric per run (ranked) and against the strongest parameter."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        numeric = next((e for e in self.param_effects if e.kind == "numeric"), None)
        fig, axes = plt.subplots(1, 2 if numeric else 1, figsize=(10 if numeric else 6, 4))
        axes = list(axes) if numeric else [axes]
        values = [r.value for r in self.ranked]
        axes[0].plot(range(1, len(values) + 1), values, marker="o", markersize=3)
        axes[0].axhline(self.stats["mean"], color="grey", linestyle="--", label="mean")
        axes[0].set(xlabel="rank", ylabel=self.metric, title=f"{self.metric} by rank")
        axes[0].legend()
        if numeric:
            pairs = [
                (float(r.params[numeric.param]), r.value)
                for r in self.ranked
                if _as_float(r.params.get(numeric.param)) is not None
            ]
            axes[1].scatter([p[0] for p in pairs], [p[1] for p in pairs], s=12)
            axes[1].set(
                xlabel=numeric.param, ylabel=self.metric, title=f"{self.metric} vs {numeric.param}"
            )
        fig.tight_layout()
        fig.savefig(target, dpi=100)
        plt.close(fig)
        return target


def _as_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _ranks(values: list[float]) -> list[float]:
    """Average ranks (ties share their mean rank), as Spearman's correlation needs."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(x: list[float], y: list[float]) -> float:
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def _strength(effect: float) -> str:
    if effect >= 0.5:
        return "strong"
    if effect >= 0.3:
        return "moderate"
    if effect >= 0.1:
        return "weak"
    return "none"


def _param_effects(ranked: list[RankedRun], higher_is_better: bool) -> list[ParamEffect]:
    names = sorted({p for r in ranked for p in r.params})
    sign = 1.0 if higher_is_better else -1.0
    effects: list[ParamEffect] = []
    for name in names:
        raw = [(r.params.get(name), r.value) for r in ranked]
        distinct = {v for v, _ in raw}
        if len(distinct) < 2:
            continue
        # "None" (sklearn's unset) is left out of a numeric parameter's correlation.
        numeric = [(_as_float(v), m) for v, m in raw if v is not None and v != "None"]
        if (
            all(x is not None for x, _ in numeric)
            and len({x for x, _ in numeric}) >= 2
            and (len(numeric) >= 3)
        ):
            xs = [float(x) for x, _ in numeric if x is not None]
            ys = [m for _, m in numeric]
            rho = _pearson(_ranks(xs), _ranks(ys))
            best = max(numeric, key=lambda p: sign * p[1])[0]
            better = "higher" if rho * sign > 0 else "lower"
            effects.append(
                ParamEffect(
                    name,
                    "numeric",
                    abs(rho),
                    _strength(abs(rho)),
                    len({x for x, _ in numeric}),
                    _fmt(best),
                    f"Spearman ρ = {rho:+.2f}; {better} values do better",
                )
            )
            continue
        groups: dict[str, list[float]] = {}
        for value, metric in raw:
            groups.setdefault(value if value is not None else "(unset)", []).append(metric)
        if len(groups) >= len(raw) > 3:  # one run per value (an id, a path): nothing to learn
            continue
        effect = _eta_squared(list(groups.values()))
        best_group = max(groups, key=lambda g: sign * statistics.fmean(groups[g]))
        effects.append(
            ParamEffect(
                name,
                "categorical",
                effect,
                _strength(effect),
                len(groups),
                best_group,
                f"η² = {effect:.2f}; mean {_fmt(statistics.fmean(groups[best_group]))} "
                f"for {best_group}",
            )
        )
    return sorted(effects, key=lambda e: -e.effect)


def _eta_squared(groups: list[list[float]]) -> float:
    values = [v for g in groups for v in g]
    grand = statistics.fmean(values)
    total = sum((v - grand) ** 2 for v in values)
    if total == 0:
        return 0.0
    between = sum(len(g) * (statistics.fmean(g) - grand) ** 2 for g in groups)
    return between / total


def _consistency(cv: float) -> str:
    if cv < 0.01:
        return "very consistent (cv < 1%)"
    if cv < 0.05:
        return "consistent (cv < 5%)"
    if cv < 0.15:
        return "some spread (cv 5-15%)"
    return "large spread (cv > 15%): results depend strongly on the settings or on chance"


def compare_runs(
    experiment: str,
    metric: str,
    *,
    higher_is_better: bool | None = None,
    filter_string: str = "",
    max_runs: int | None = None,
    page_size: int = 1000,
) -> RunComparison:
    """Rank the runs of ``experiment`` by ``metric`` and find what moves it.

    Args:
        experiment: experiment name (or id).
        metric: metric to rank by.
        higher_is_better: ranking direction; guessed from the name when None
            (names with loss/error/rmse/mae... rank ascending).
        filter_string: an MLflow search filter, e.g. ``"params.model = 'rf'"``.
        max_runs: read at most this many runs (newest first); all by default.
        page_size: runs per ``search_runs`` request (at most 1000).

    Returns:
        The comparison (ranking, spread, parameter effects); see :class:`RunComparison`.

    Raises:
        MltrackError: unknown experiment, or no run logged the metric.
    """
    import time

    mlflow_client = client()
    with mlflow_errors(f"read experiment '{experiment}'"):
        exp = mlflow_client.get_experiment_by_name(experiment)
        if exp is None and experiment.isdigit():
            exp = mlflow_client.get_experiment(experiment)
    if exp is None:
        names = [e.name for e in mlflow_client.search_experiments(max_results=20)]
        raise MltrackError(
            f"no experiment named '{experiment}' (some that exist: {', '.join(names) or 'none'})"
            "; check the name in the MLflow UI or with `ml runs`"
        )
    direction = metric_direction(metric) if higher_is_better is None else higher_is_better
    started = time.perf_counter()
    runs = fetch_runs(
        mlflow_client,
        [exp.experiment_id],
        filter_string,
        max_runs,
        ["attributes.start_time DESC"],
        page_size=page_size,
    )
    fetch_seconds = time.perf_counter() - started
    scored = [r for r in runs if metric in r.data.metrics]
    if not scored:
        known = sorted({m for r in runs for m in r.data.metrics})[:10]
        raise MltrackError(
            f"no run of '{experiment}' logged metric '{metric}' ({len(runs)} runs; metrics seen: "
            f"{', '.join(known) or 'none'}); pass one of those with --metric"
        )
    scored.sort(key=lambda r: r.data.metrics[metric], reverse=direction)
    ranked = [
        RankedRun(
            rank=i + 1,
            run_id=r.info.run_id,
            run_name=r.info.run_name or r.info.run_id[:8],
            value=float(r.data.metrics[metric]),
            params=dict(r.data.params),
            start_time=(
                datetime.fromtimestamp(r.info.start_time / 1000, UTC) if r.info.start_time else None
            ),
        )
        for i, r in enumerate(scored)
    ]
    values = [r.value for r in ranked]
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    cv = std / abs(mean) if mean else (0.0 if std == 0 else math.inf)
    stats = {
        "mean": mean,
        "std": std,
        "min": min(values),
        "max": max(values),
        "median": statistics.median(values),
        "cv": cv,
    }
    return RunComparison(
        experiment=exp.name,
        metric=metric,
        higher_is_better=direction,
        n_runs=len(runs),
        ranked=ranked,
        stats=stats,
        consistency=_consistency(cv),
        param_effects=_param_effects(ranked, direction),
        fetch_seconds=fetch_seconds,
    )


# --------------------------------------------------------------------------- champion vs challenger


@dataclass(frozen=True)
class Side:
    """One side of a champion/challenger comparison."""

    label: str
    ref: str
    uri: str
    run_id: str
    run_name: str
    metrics: dict[str, float]
    params: dict[str, str]


@dataclass(frozen=True)
class MetricDelta:
    """One metric on both sides; ``improvement`` is relative and signed so > 0 is better."""

    name: str
    champion: float | None
    challenger: float | None
    delta: float | None
    improvement: float | None
    higher_is_better: bool


@dataclass
class ModelComparison:
    """Result of :func:`compare_models`.

    Attributes:
        promote: True when the challenger should replace the champion.
        recommendation: ``"promote challenger"`` or ``"keep champion"``.
        rule: the rule applied, in words (from the ``promotion`` settings).
        reasons: why the rule said yes or no, one line per check.
    """

    champion: Side
    challenger: Side
    primary_metric: str
    metrics: list[MetricDelta]
    param_diffs: list[tuple[str, str, str]]
    promote: bool
    recommendation: str
    rule: str
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-serialisable)."""
        return asdict(self)

    def _metric_rows(self) -> list[list[str]]:
        return [
            [
                f"**{m.name}**" if m.name == self.primary_metric else m.name,
                _fmt(m.champion),
                _fmt(m.challenger),
                _fmt(m.delta),
                _pct(m.improvement),
            ]
            for m in self.metrics
        ]

    def to_markdown(self) -> str:
        """A Markdown report: metrics with deltas, parameter diffs, recommendation and rule."""
        verdict = "✅ Promote the challenger" if self.promote else "⛔ Keep the champion"
        lines = [
            f"# Champion vs challenger: {verdict.split(' ', 1)[1].lower()}",
            "",
            f"- Champion: `{self.champion.uri}` (run {self.champion.run_name})",
            f"- Challenger: `{self.challenger.uri}` (run {self.challenger.run_name})",
            "",
            "## Metrics",
            "",
            _md_table(
                ["metric", "champion", "challenger", "delta", "improvement"], self._metric_rows()
            ),
            "",
            "## Hyperparameter differences",
            "",
        ]
        if self.param_diffs:
            lines.append(
                _md_table(
                    ["parameter", "champion", "challenger"],
                    [[f"`{p}`", a, b] for p, a, b in self.param_diffs],
                )
            )
        else:
            lines.append("Same hyperparameters.")
        lines += ["", "## Recommendation", "", f"**{verdict}.**", "", f"Rule: {self.rule}", ""]
        lines += [f"- {reason}" for reason in self.reasons]
        return "\n".join(lines) + "\n"

    def print_table(self, console: Console) -> None:
        """Print the comparison with rich."""
        from rich.table import Table

        table = Table("metric", "champion", "challenger", "delta", "improvement")
        for row in self._metric_rows():
            table.add_row(*[c.replace("**", "") for c in row])
        console.print(
            f"champion {self.champion.uri} · challenger {self.challenger.uri}", highlight=False
        )
        console.print(table)
        if self.param_diffs:
            diffs = Table("parameter", "champion", "challenger", title="hyperparameter differences")
            for p, a, b in self.param_diffs:
                diffs.add_row(p, a, b)
            console.print(diffs)
        colour = "green" if self.promote else "yellow"
        console.print(f"[bold {colour}]{self.recommendation}[/]")
        console.print(f"rule: {self.rule}", highlight=False)
        for reason in self.reasons:
            console.print(f"  - {reason}", highlight=False)


def _side(label: str, ref: str) -> tuple[Side, Any]:
    resolved = resolve_model(ref)
    if resolved.run_id is None:
        raise MltrackError(f"{label} '{ref}' has no source run with metrics to compare")
    with mlflow_errors(f"read the {label} run"):
        run = client().get_run(resolved.run_id)
    side = Side(
        label=label,
        ref=ref,
        uri=resolved.registry_uri or resolved.uri,
        run_id=run.info.run_id,
        run_name=run.info.run_name or run.info.run_id[:8],
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
    )
    return side, resolved


def _improvement(champion: float, challenger: float, higher_is_better: bool) -> float:
    """Relative change, signed so that a positive number means the challenger is better."""
    change = challenger - champion
    scale = abs(champion) if champion != 0 else 1.0
    return (change if higher_is_better else -change) / scale


def _pick_metric(shared: set[str], configured: str | None) -> str:
    if configured:
        return configured
    for name in _PREFERRED:
        for candidate in sorted(shared):
            if (
                candidate == name
                or candidate.endswith(f"_{name}")
                or candidate.startswith(f"{name}_")
            ):
                return candidate
    if not shared:
        raise MltrackError(
            "the champion and challenger share no metric; log the same metrics on both "
            "or choose one with --metric"
        )
    return sorted(shared)[0]


def compare_models(
    champion: str,
    challenger: str,
    *,
    metric: str | None = None,
    higher_is_better: bool | None = None,
    min_improvement: float | None = None,
    guard_metrics: dict[str, float] | None = None,
) -> ModelComparison:
    """Compare two runs or model versions and recommend whether to promote the challenger.

    The rule (arguments win over the ``promotion`` section of ``.mltrack.yml``): the
    challenger must beat the champion on the primary metric by at least
    ``min_improvement`` (relative, 0.01 = 1%), and no guard metric may regress by more
    than its relative tolerance.

    Args:
        champion: run id or model URI of the current model (e.g. ``models:/NAME@champion``).
        challenger: run id or model URI of the candidate.
        metric: primary metric; default: configured, else the first preferred metric both
            share (f1, accuracy, roc_auc, r2, rmse, ...).
        higher_is_better: direction of the primary metric; guessed from its name when None.
        min_improvement: required relative improvement on the primary metric.
        guard_metrics: metric -> largest tolerated relative regression.

    Returns:
        The comparison with ``promote``, ``recommendation``, ``rule`` and ``reasons``.

    Raises:
        ModelNotFoundError / RunNotFoundError: a side does not exist.
        MltrackError: the primary metric is missing on a side.
    """
    settings = load_settings().promotion
    champ, _ = _side("champion", champion)
    chal, _ = _side("challenger", challenger)
    shared = set(champ.metrics) & set(chal.metrics)
    primary = _pick_metric(shared, metric or settings.metric)
    for side in (champ, chal):
        if primary not in side.metrics:
            raise MltrackError(
                f"the {side.label} ({side.uri}) has no metric '{primary}'; log it on both runs "
                f"or choose another with --metric (shared: {', '.join(sorted(shared)) or 'none'})"
            )
    if higher_is_better is None:
        higher_is_better = settings.higher_is_better
    primary_higher = metric_direction(primary) if higher_is_better is None else higher_is_better
    threshold = settings.min_improvement if min_improvement is None else min_improvement
    guards = dict(settings.guard_metrics if guard_metrics is None else guard_metrics)
    guards.pop(primary, None)

    deltas = []
    for name in sorted(set(champ.metrics) | set(chal.metrics)):
        a, b = champ.metrics.get(name), chal.metrics.get(name)
        higher = primary_higher if name == primary else metric_direction(name)
        deltas.append(
            MetricDelta(
                name=name,
                champion=a,
                challenger=b,
                delta=None if a is None or b is None else b - a,
                improvement=None if a is None or b is None else _improvement(a, b, higher),
                higher_is_better=higher,
            )
        )
    deltas.sort(key=lambda d: (d.name != primary, d.name))
    by_name = {d.name: d for d in deltas}

    gain = by_name[primary].improvement or 0.0
    direction = "higher" if primary_higher else "lower"
    reasons = []
    ok = gain > 0 and gain >= threshold
    reasons.append(
        f"{primary} ({direction} is better): {_fmt(champ.metrics[primary])} → "
        f"{_fmt(chal.metrics[primary])}, improvement {gain:+.2%} "
        f"{'≥' if ok else '<'} required {threshold:.2%}"
        + ("" if gain > 0 or threshold > 0 else " (must be > 0)")
    )
    for name, tolerance in sorted(guards.items()):
        guard = by_name.get(name)
        if guard is None or guard.improvement is None:
            ok = False
            reasons.append(f"guard {name}: missing on a side, so it cannot be checked")
            continue
        regression = max(0.0, -guard.improvement)
        passed = regression <= tolerance
        ok = ok and passed
        reasons.append(
            f"guard {name}: {_fmt(guard.champion)} → {_fmt(guard.challenger)}, regression "
            f"{regression:.2%} {'≤' if passed else '>'} tolerance {tolerance:.2%}"
        )
    rule = (
        f"promote when {primary} improves by more than 0 and at least {threshold:.2%}"
        + (
            "; guards: "
            + ", ".join(f"{n} may regress ≤ {t:.2%}" for n, t in sorted(guards.items()))
            if guards
            else "; no guard metrics"
        )
        + " (promotion settings in .mltrack.yml)"
    )
    params = sorted(set(champ.params) | set(chal.params))
    diffs = [
        (p, champ.params.get(p, "-"), chal.params.get(p, "-"))
        for p in params
        if champ.params.get(p) != chal.params.get(p)
    ]
    return ModelComparison(
        champion=champ,
        challenger=chal,
        primary_metric=primary,
        metrics=deltas,
        param_diffs=diffs,
        promote=ok,
        recommendation="promote challenger" if ok else "keep champion",
        rule=rule,
        reasons=reasons,
    )


def compare_aliases(name: str, **kwargs: Any) -> ModelComparison:
    """Compare the ``champion`` and ``challenger`` aliases of registered model ``name``.

    Keyword arguments are passed to :func:`compare_models`.

    Raises:
        ModelNotFoundError: the model or one of the two aliases does not exist.
    """
    from mltrack.errors import ModelNotFoundError
    from mltrack.registry import list_models

    known = {m.name: m for m in list_models()}
    if name not in known:
        raise ModelNotFoundError(
            f"no registered model named '{name}'; to compare the runs of an experiment pass "
            "--metric M, or list models with `ml models`"
        )
    for alias in (CHAMPION, CHALLENGER):
        if alias not in known[name].aliases:
            raise ModelNotFoundError(
                f"model '{name}' has no {alias} alias; set it with "
                f"`ml promote {name} VERSION --to {alias}`"
            )
    return compare_models(f"models:/{name}@{CHAMPION}", f"models:/{name}@{CHALLENGER}", **kwargs)
