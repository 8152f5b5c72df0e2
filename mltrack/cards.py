"""Model cards from an MLflow run or registered model version.

A card is built from what MLflow already holds about the model (run, logged model,
registry version, datasets logged with ``mlflow.log_input``) and rendered two ways:

* Markdown with a YAML front matter compatible with Hugging Face model cards
  (``library_name``, ``license``, ``tags``, ``datasets``, ``metrics``, ``model-index``);
* a standalone HTML page (inline CSS, no external resources).

Sections: overview, hyperparameters, metrics (with a plain-language reading per task
type), feature importance (when the model exposes it), insights, recommendations,
usage, lineage.

Examples:
    >>> card = mltrack.model_card("models:/iris-classifier@champion")
    >>> card.save("MODEL_CARD.md")
    >>> card.log_to_run()          # stores model_card.md in the run's artifacts
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mltrack.artifact_reads import no_download_bar
from mltrack.errors import ConfigError, MltrackError
from mltrack.frameworks import import_skops
from mltrack.mlflow_errors import mlflow_errors
from mltrack.registry import ResolvedModel, client, resolve_model, run_id_of

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["ModelCard", "interpret_metric", "metric_direction", "model_card", "task_type"]

# --------------------------------------------------------------------------- metric knowledge

_SPLIT_PREFIXES = ("training_", "train_", "validation_", "valid_", "val_", "test_", "eval_")
_TRAIN_PREFIXES = ("training_", "train_")
_HELDOUT_PREFIXES = ("validation_", "valid_", "val_", "test_", "eval_")
_CLASSIFICATION = {"accuracy", "f1", "precision", "recall", "roc_auc", "auc", "log_loss"}
_REGRESSION = {"r2", "rmse", "mse", "mae", "mape", "root_mean_squared_error"}
_LOWER_IS_BETTER = re.compile(r"(loss|error|rmse|mse|mae|mape|perplexity|latency|time)")


@dataclass(frozen=True)
class _Rule:
    meaning: str
    higher_is_better: bool
    grades: tuple[tuple[float, str], ...] = ()  # (threshold, label) best first
    floor: str = "poor"


_RULES: dict[str, _Rule] = {
    "accuracy": _Rule(
        "share of predictions that are correct",
        True,
        ((0.95, "excellent"), (0.85, "good"), (0.7, "fair")),
        "weak; compare with always predicting the majority class",
    ),
    "f1": _Rule(
        "balance of precision and recall (harmonic mean)",
        True,
        ((0.9, "excellent"), (0.8, "good"), (0.6, "fair")),
        "weak",
    ),
    "precision": _Rule(
        "share of predicted positives that are right",
        True,
        ((0.9, "excellent"), (0.8, "good"), (0.6, "fair")),
        "weak: many false alarms",
    ),
    "recall": _Rule(
        "share of actual positives the model finds",
        True,
        ((0.9, "excellent"), (0.8, "good"), (0.6, "fair")),
        "weak: many misses",
    ),
    "roc_auc": _Rule(
        "how well scores rank positives above negatives (0.5 = chance)",
        True,
        ((0.9, "excellent"), (0.8, "good"), (0.7, "fair"), (0.5001, "weak")),
        "no better than chance",
    ),
    "log_loss": _Rule(
        "penalty for confident wrong probabilities (0.693 = coin flip on two classes)",
        False,
        ((0.1, "excellent"), (0.3, "good"), (0.693, "fair")),
        "no better than guessing",
    ),
    "r2": _Rule(
        "share of the target's variance the model explains (1 = perfect, 0 = the mean)",
        True,
        ((0.9, "excellent"), (0.75, "good"), (0.5, "moderate"), (1e-12, "weak")),
        "worse than predicting the mean",
    ),
    "rmse": _Rule("typical prediction error, in target units (penalises large errors)", False),
    "mse": _Rule("mean squared error, in squared target units", False),
    "mae": _Rule("average absolute error, in target units", False),
    "mape": _Rule(
        "average error as a fraction of the true value",
        False,
        ((0.1, "excellent"), (0.2, "good"), (0.5, "fair")),
        "large",
    ),
}
_ALIASES = {
    "auc": "roc_auc",
    "f1_macro": "f1",
    "f1_weighted": "f1",
    "f1_micro": "f1",
    "precision_macro": "precision",
    "recall_macro": "recall",
    "logloss": "log_loss",
    "r2_score": "r2",
    "root_mean_squared_error": "rmse",
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "mean_absolute_percentage_error": "mape",
}


def _base_metric(name: str) -> str:
    """``val_accuracy_score`` -> ``accuracy``: split prefix and ``_score`` removed."""
    base = name.lower()
    for prefix in _SPLIT_PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    if base.endswith("_score"):
        base = base[: -len("_score")]
    return _ALIASES.get(base, base)


def metric_direction(name: str) -> bool:
    """True when a higher value of metric ``name`` is better (guessed from its name)."""
    rule = _RULES.get(_base_metric(name))
    if rule is not None:
        return rule.higher_is_better
    return not _LOWER_IS_BETTER.search(name.lower())


def interpret_metric(name: str, value: float) -> str:
    """One plain-language sentence about a metric value (empty for unknown metrics)."""
    rule = _RULES.get(_base_metric(name))
    if rule is None or value is None or math.isnan(value):
        return ""
    if not rule.grades:
        return f"{rule.meaning}; lower is better."
    for threshold, label in rule.grades:
        if (value >= threshold) if rule.higher_is_better else (value <= threshold):
            return f"{label.capitalize()}: {rule.meaning}."
    return f"{rule.floor.capitalize()}: {rule.meaning}."


def task_type(metrics: dict[str, float], model_class: str | None = None) -> str:
    """``classification``, ``regression`` or ``unknown`` from the class name or metrics."""
    if model_class:
        if "Classifier" in model_class or "LogisticRegression" in model_class:
            return "classification"
        if "Regress" in model_class:
            return "regression"
    bases = {_base_metric(m) for m in metrics}
    if bases & _CLASSIFICATION:
        return "classification"
    if bases & _REGRESSION:
        return "regression"
    return "unknown"


# --------------------------------------------------------------------------- blocks


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class _Code:
    lang: str
    text: str


@dataclass
class _Section:
    title: str
    blocks: list[str | _Table | _Code | list[str]] = field(default_factory=list)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _render_md(section: _Section) -> str:
    out = [f"## {section.title}", ""]
    for block in section.blocks:
        if isinstance(block, _Table):
            out.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
            out.append("|" + "|".join("---" for _ in block.headers) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        elif isinstance(block, _Code):
            out += [f"```{block.lang}", block.text.rstrip("\n"), "```"]
        elif isinstance(block, list):
            out += [f"- {item}" for item in block]
        else:
            out.append(block)
        out.append("")
    return "\n".join(out)


def _inline_html(text: str) -> str:
    """Escape, then render the two Markdown inline forms the card uses: `code`, **bold**."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _render_html(section: _Section) -> str:
    out = [f"<section><h2>{html.escape(section.title)}</h2>"]
    for block in section.blocks:
        if isinstance(block, _Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, _Code):
            out.append(
                f'<pre><code class="language-{block.lang}">{html.escape(block.text)}</code></pre>'
            )
        elif isinstance(block, list):
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block) + "</ul>")
        else:
            out.append(f"<p>{_inline_html(block)}</p>")
    out.append("</section>")
    return "\n".join(out)


_CSS = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1f2328;background:#fff;line-height:1.5}
h1{border-bottom:2px solid #d0d7de;padding-bottom:.3rem}h2{margin-top:2rem;color:#0b5394}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;border-radius:6px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
.meta{color:#57606a;font-size:.9em}
"""


# --------------------------------------------------------------------------- the card


@dataclass
class ModelCard:
    """A generated model card.

    Attributes:
        title: model name (registered name, else the run name).
        run_id: the run the card describes.
        data: everything the card was built from, as plain values (metrics, params, ...).
        front_matter: the Hugging Face-compatible metadata (YAML header of the Markdown).
    """

    title: str
    run_id: str
    data: dict[str, Any]
    front_matter: dict[str, Any]
    sections: list[_Section] = field(repr=False)

    @property
    def markdown(self) -> str:
        """The card as Markdown with a YAML front matter."""
        header = yaml.safe_dump(self.front_matter, sort_keys=False, allow_unicode=True)
        body = "\n".join(_render_md(s) for s in self.sections)
        generated = self.data["generated_at"]
        return (
            f"---\n{header}---\n\n# Model card: {self.title}\n\n"
            f"_Generated by mltrack on {generated} from MLflow run `{self.run_id}`._\n\n{body}"
        )

    @property
    def html(self) -> str:
        """The card as a standalone HTML page (inline CSS, no external resources)."""
        body = "\n".join(_render_html(s) for s in self.sections)
        title = html.escape(self.title)
        meta = html.escape(json.dumps(self.front_matter, default=str))
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>Model card: {title}</title>"
            f'<meta name="model-card" content="{meta}"><style>{_CSS}</style></head>\n'
            f"<body><h1>Model card: {title}</h1>"
            f'<p class="meta">Generated by mltrack on {self.data["generated_at"]} from MLflow '
            f"run <code>{html.escape(self.run_id)}</code>.</p>\n{body}\n</body></html>\n"
        )

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the card to ``path`` and return the path.

        Args:
            path: where to write it.
            format: ``"markdown"`` (alias ``"md"``, as ``ml card --format`` takes) or
                ``"html"``; default: HTML for a ``.html``/``.htm`` path, else Markdown.

        Raises:
            ConfigError: an unknown format.
        """
        target = Path(path)
        kind = (format or "").lower() or (
            "html" if target.suffix.lower() in (".html", ".htm") else "markdown"
        )
        if kind not in ("markdown", "md", "html"):
            raise ConfigError(f"unknown card format '{format}': use markdown or html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.html if kind == "html" else self.markdown, encoding="utf-8")
        return target

    def log_to_run(self, html_too: bool = True) -> list[str]:
        """Store ``model_card.md`` (and ``model_card.html``) in the run's artifacts.

        Returns:
            The artifact paths written.
        """
        mlflow_client = client()
        written = ["model_card.md"]
        with mlflow_errors(f"log the model card to run {self.run_id}"):
            mlflow_client.log_text(self.run_id, self.markdown, "model_card.md")
            if html_too:
                mlflow_client.log_text(self.run_id, self.html, "model_card.html")
                written.append("model_card.html")
        return written

    def __str__(self) -> str:
        return self.markdown


# --------------------------------------------------------------------------- gathering


def _download_json(mlflow_client: MlflowClient, artifact_uri: str) -> Any | None:
    import mlflow.artifacts

    try:
        return json.loads(mlflow.artifacts.load_text(artifact_uri))
    except Exception:  # absent or unreadable: the card just omits it
        return None


def _mlmodel(artifact_uri: str) -> dict[str, Any]:
    import mlflow.artifacts

    try:
        loaded = yaml.safe_load(mlflow.artifacts.load_text(artifact_uri.rstrip("/") + "/MLmodel"))
        return loaded if isinstance(loaded, dict) else {}
    except Exception:  # no MLmodel (a run without a model): run-only card
        return {}


def _load_sklearn(logged: Any, mlmodel: dict[str, Any]) -> Any:
    """Load a scikit-learn model, downloading only its model file when it is skops."""
    import tempfile

    import mlflow.artifacts

    conf = (mlmodel.get("flavors") or {}).get("sklearn") or {}
    filename = conf.get("pickled_model")
    if conf.get("serialization_format") == "skops" and filename:
        import_skops()  # not torch with it, as a plain import would

        import skops.io

        with tempfile.TemporaryDirectory(prefix="mltrack-card-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{logged.artifact_location}/{filename}", dst_path=tmp
            )
            # Same trust list MLflow itself applies when it loads this model.
            return skops.io.load(local, trusted=conf.get("skops_trusted_types"))
    import mlflow.sklearn

    with tempfile.TemporaryDirectory(prefix="mltrack-card-") as tmp:  # loaded into memory
        return mlflow.sklearn.load_model(logged.model_uri, dst_path=tmp)


def _feature_importance(
    logged: Any, mlmodel: dict[str, Any], flavor: str | None, names: list[str]
) -> tuple[list[tuple[str, float]] | None, str | None]:
    """Top features by importance and the model class, for scikit-learn models."""
    if flavor != "sklearn":
        return None, None
    try:
        from mltrack.registry import describe_model_class

        model = _load_sklearn(logged, mlmodel)
    except Exception:  # the card must not fail because the model cannot be loaded here
        return None, None
    return _importances(model, names), describe_model_class(model)


def _importances(model: Any, names: list[str]) -> list[tuple[str, float]] | None:
    try:
        import numpy as np

        estimator = model.steps[-1][1] if hasattr(model, "steps") else model
        if hasattr(estimator, "feature_importances_"):
            values = np.asarray(estimator.feature_importances_, dtype=float)
        elif hasattr(estimator, "coef_"):
            coef = np.abs(np.asarray(estimator.coef_, dtype=float))
            values = coef.mean(axis=0) if coef.ndim > 1 else coef
        else:
            return None
        fitted_names = getattr(model, "feature_names_in_", None)
        labels = [str(n) for n in fitted_names] if fitted_names is not None else names
        if len(labels) != len(values):
            labels = [f"x{i}" for i in range(len(values))]
        ranked = sorted(zip(labels, values.tolist(), strict=True), key=lambda p: -abs(p[1]))
        return [(n, float(v)) for n, v in ranked[:15]]
    except Exception:  # the card must not fail because the model cannot be loaded here
        return None


def _dataset_inputs(run: Run) -> list[Any]:
    return list(run.inputs.dataset_inputs) if run.inputs is not None else []


def _logged_model_for_run(mlflow_client: MlflowClient, run: Run) -> Any | None:
    models = mlflow_client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        max_results=1,
    )
    return models[0] if models else None


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=0).isoformat()


def _duration(start: int | None, end: int | None) -> str | None:
    if not start or not end:
        return None
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _gather(ref: str, with_feature_importance: bool) -> dict[str, Any]:
    """Read everything the card needs with a handful of requests."""
    mlflow_client = client()
    resolved: ResolvedModel = resolve_model(ref)
    if resolved.run_id is None:
        raise MltrackError(
            f"'{ref}' has no source run, so there is nothing to describe; "
            "log models inside a run (mltrack.save does)"
        )
    with mlflow_errors(f"read run {resolved.run_id}"):
        run = mlflow_client.get_run(resolved.run_id)
        experiment = mlflow_client.get_experiment(run.info.experiment_id)
        parent_id = run.data.tags.get("mlflow.parentRunId")
        parent = mlflow_client.get_run(parent_id) if parent_id else None
        logged: Any
        if resolved.model_id:
            logged = mlflow_client.get_logged_model(resolved.model_id)
        else:
            logged = _logged_model_for_run(mlflow_client, run)
    mlmodel = _mlmodel(logged.artifact_location) if logged is not None else {}
    flavors = [f for f in (mlmodel.get("flavors") or {}) if f != "python_function"]
    flavor = flavors[0] if flavors else None
    model_uri = resolved.registry_uri or (logged.model_uri if logged is not None else None)
    serving_example = None
    if logged is not None and mlmodel.get("saved_input_example_info"):
        info = mlmodel["saved_input_example_info"]
        path = info.get("serving_input_path") or "serving_input_example.json"
        serving_example = _download_json(mlflow_client, f"{logged.artifact_location}/{path}")
    signature = mlmodel.get("signature") or {}
    inputs = json.loads(signature["inputs"]) if signature.get("inputs") else []
    input_names = [str(c.get("name", f"x{i}")) for i, c in enumerate(inputs)]
    importance, model_class = (
        _feature_importance(logged, mlmodel, flavor, input_names)
        if with_feature_importance and logged is not None
        else (None, None)
    )
    return {
        "ref": ref,
        "resolved": resolved,
        "run": run,
        "experiment_name": experiment.name if experiment else run.info.experiment_id,
        "parent": parent,
        "logged": logged,
        "mlmodel": mlmodel,
        "flavor": flavor,
        "model_uri": model_uri,
        "serving_example": serving_example,
        "inputs": inputs,
        "importance": importance,
        "model_class": model_class,
    }


# --------------------------------------------------------------------------- sections


def _overview(g: dict[str, Any], title: str, task: str, model_class: str | None) -> _Section:
    run: Run = g["run"]
    tags = run.data.tags
    resolved: ResolvedModel = g["resolved"]
    commit = tags.get("mlflow.source.git.commit") or tags.get("mltrack.git.commit")
    rows = [
        ["Model", f"`{title}`"],
        ["Registry", f"`{resolved.registry_uri}`" if resolved.registry_uri else "not registered"],
        ["Aliases", ", ".join(resolved.aliases) or "none"],
        ["Flavor", g["flavor"] or "no model logged"],
        ["Model class", model_class or "unknown"],
        ["Task", task],
        ["Trained", _iso(run.info.start_time) or "unknown"],
        ["Duration", _duration(run.info.start_time, run.info.end_time) or "unknown"],
        ["Status", run.info.status],
        ["Git commit", f"`{commit}`" if commit else "not recorded"],
        ["Trained by", tags.get("mlflow.user", "unknown")],
    ]
    blocks: list[Any] = [_Table(["Field", "Value"], rows)]
    description = tags.get("mlflow.note.content") or (
        g["resolved"].version_tags.get("mltrack.promotion_reason")
    )
    if tags.get("mlflow.note.content"):
        blocks.insert(0, tags["mlflow.note.content"])
    elif description:
        blocks.insert(0, f"Promotion reason: {description}")
    return _Section("Overview", blocks)


def _params_section(params: dict[str, str]) -> _Section:
    if not params:
        return _Section("Hyperparameters", ["No parameters were logged for this run."])
    rows = [[f"`{k}`", v if len(v) <= 80 else v[:77] + "..."] for k, v in sorted(params.items())]
    return _Section("Hyperparameters", [_Table(["Parameter", "Value"], rows)])


def _metrics_section(metrics: dict[str, float]) -> _Section:
    if not metrics:
        return _Section("Metrics", ["No metrics were logged for this run."])
    rows = [
        [f"`{name}`", _fmt(value), interpret_metric(name, value) or "-"]
        for name, value in sorted(metrics.items())
    ]
    return _Section("Metrics", [_Table(["Metric", "Value", "Reading"], rows)])


def _importance_section(importance: list[tuple[str, float]] | None) -> _Section | None:
    if not importance:
        return None
    total = sum(abs(v) for _, v in importance) or 1.0
    rows = [[f"`{n}`", _fmt(v), f"{abs(v) / total:.0%}"] for n, v in importance]
    return _Section(
        "Feature importance",
        [
            "Importance as reported by the model (impurity-based importances for trees, "
            "absolute coefficients for linear models); the share is relative to the features "
            "listed.",
            _Table(["Feature", "Importance", "Share"], rows),
        ],
    )


def _split_pairs(metrics: dict[str, float]) -> list[tuple[str, str, str]]:
    """(base, train metric, held-out metric) pairs such as train_accuracy / val_accuracy."""
    train = {_base_metric(m): m for m in metrics if m.lower().startswith(_TRAIN_PREFIXES)}
    pairs = []
    for name in sorted(metrics):
        if name.lower().startswith(_HELDOUT_PREFIXES):
            base = _base_metric(name)
            if base in train:
                pairs.append((base, train[base], name))
    return pairs


def _insights(g: dict[str, Any], task: str, params: dict[str, str]) -> tuple[list[str], list[str]]:
    """Observations and the recommendations they lead to."""
    metrics: dict[str, float] = g["run"].data.metrics
    notes: list[str] = []
    todo: list[str] = []
    for base, train_name, held_name in _split_pairs(metrics):
        train_v, held_v = metrics[train_name], metrics[held_name]
        higher = metric_direction(base)
        gap = (train_v - held_v) if higher else (held_v - train_v)
        scale = max(abs(train_v), 1e-12)
        relative = gap / scale
        if relative > 0.05:
            notes.append(
                f"**Possible overfitting**: `{train_name}` = {_fmt(train_v)} but `{held_name}` "
                f"= {_fmt(held_v)} ({relative:.0%} worse on held-out data)."
            )
            todo.append(
                "Reduce overfitting: regularise (e.g. limit `max_depth`, raise `min_samples_leaf`"
                ", lower `C`), or train on more data."
            )
        elif relative < -0.05:
            notes.append(
                f"`{held_name}` ({_fmt(held_v)}) is better than `{train_name}` ({_fmt(train_v)}); "
                "check that the validation data does not leak into training or is not too easy."
            )
        else:
            notes.append(
                f"Training and held-out `{base}` agree ({_fmt(train_v)} vs {_fmt(held_v)}): "
                "no sign of overfitting."
            )
        rule = _RULES.get(base)
        if rule and rule.grades and higher and train_v < rule.grades[-1][0]:
            notes.append(
                f"**Possible underfitting**: even the training `{base}` is low ({_fmt(train_v)})."
            )
            todo.append("Try a more expressive model or better features; the model underfits.")
    for name, value in sorted(metrics.items()):
        base = _base_metric(name)
        if base == "r2" and value <= 0:
            notes.append(f"`{name}` = {_fmt(value)}: the model is no better than the mean.")
            todo.append("Revisit features and model choice: R² ≤ 0 means no predictive value.")
        if base == "roc_auc" and value <= 0.5:
            notes.append(f"`{name}` = {_fmt(value)}: the ranking is no better than chance.")
    if params.get("max_depth", "").lower() == "none" and any(
        k in params for k in ("n_estimators", "min_samples_leaf", "criterion")
    ):
        notes.append(
            "Trees grow without a depth limit (`max_depth=None`): expressive, prone to "
            "overfitting small datasets, larger to store."
        )
        todo.append("Try a bounded `max_depth` and compare held-out metrics.")
    if "n_estimators" in params and params["n_estimators"].isdigit():
        n = int(params["n_estimators"])
        if n >= 500:
            notes.append(f"{n} estimators: slower predictions and a larger artifact.")
    if not g["run"].inputs.dataset_inputs:
        notes.append("No training dataset is recorded for this run.")
        todo.append("Record the training data with `mlflow.log_input(...)` for lineage.")
    if g["logged"] is None:
        todo.append("Log the model (`mltrack.save(model, name=...)`) so it can be served.")
    elif not g["mlmodel"].get("signature"):
        todo.append("Log the model with an input example so MLflow can validate requests.")
    if not g["resolved"].registry_uri and g["logged"] is not None:
        todo.append("Register the model (`ml save NAME --run RUN_ID`) to version and promote it.")
    elif g["resolved"].registry_uri and not g["resolved"].aliases:
        name, version = g["resolved"].name, g["resolved"].version
        todo.append(
            f"Make it the challenger (`ml promote {name} {version} --to challenger`) and "
            f"compare it with the champion (`ml compare {name}`); with no champion yet, "
            "`--to champion`."
        )
    if not metrics:
        todo.append("Log evaluation metrics on held-out data.")
    elif task != "unknown" and not _split_pairs(metrics):
        todo.append(
            "Log training and validation metrics under matching names (`train_…`, `val_…`) "
            "so over/underfitting can be checked."
        )
    return notes or ["Nothing unusual found in the logged metrics and parameters."], list(
        dict.fromkeys(todo)
    ) or ["No action needed; compare with the champion before promoting (`ml compare NAME`)."]


def _usage(g: dict[str, Any]) -> _Section:
    uri = g["model_uri"]
    if uri is None:
        return _Section("Usage", ["No model was logged in this run, so there is nothing to load."])
    payload = g["serving_example"] or {"dataframe_split": {"columns": ["..."], "data": [["..."]]}}
    body = json.dumps(payload).replace("'", "'\\''")  # safe inside single quotes
    python = (
        "import mlflow\n\n"
        f'model = mlflow.pyfunc.load_model("{uri}")\n'
        "predictions = model.predict(data)  # a pandas DataFrame shaped like the input example\n"
    )
    rest = (
        f'ml ship "{uri}" --local    # serves on http://127.0.0.1:8080\n\n'
        "curl -X POST http://127.0.0.1:8080/predict \\\n"
        '  -H "Authorization: Bearer $MLTRACK_API_TOKEN" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'\n"
    )
    blocks: list[Any] = [
        "Load it in Python:",
        _Code("python", python),
        "Serve it over REST and call it (the body is the stored input example):",
        _Code("bash", rest),
        f"MLflow's own server takes the same body on `/invocations`: "
        f"`mlflow models serve -m {uri} --env-manager local`.",
        f"Registry URI: `{uri}`.",
    ]
    return _Section("Usage", blocks)


def _lineage(g: dict[str, Any]) -> _Section:
    run: Run = g["run"]
    tags = run.data.tags
    rows = [
        ["Run", f"`{run.info.run_id}` ({run.info.run_name or 'unnamed'})"],
        ["Experiment", f"{g['experiment_name']} (id {run.info.experiment_id})"],
    ]
    if g["parent"] is not None:
        rows.append(["Parent run", f"`{g['parent'].info.run_id}` ({g['parent'].info.run_name})"])
    if g["logged"] is not None:
        rows.append(["Logged model", f"`{g['logged'].model_id}`"])
    source = tags.get("mlflow.source.name")
    if source:
        rows.append(["Source", f"`{source}`"])
    blocks: list[Any] = [_Table(["Item", "Value"], rows)]
    datasets = []
    for item in _dataset_inputs(run):
        ds = item.dataset
        context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "-")
        rows_n = "-"
        try:
            profile = json.loads(ds.profile) if ds.profile else {}
            rows_n = str(profile.get("num_rows", "-"))
        except (TypeError, ValueError):
            pass
        datasets.append([ds.name, context, rows_n, f"`{ds.digest}`", ds.source_type])
    if datasets:
        blocks += ["Datasets:", _Table(["Name", "Context", "Rows", "Digest", "Source"], datasets)]
    else:
        blocks.append("No datasets were logged with `mlflow.log_input`.")
    return _Section("Lineage", blocks)


_LIBRARY = {"sklearn": "sklearn", "pytorch": "pytorch", "xgboost": "xgboost"}
_LIBRARY["transformers"] = "transformers"


def _front_matter(
    g: dict[str, Any], title: str, task: str, license: str, datasets: list[str]
) -> dict[str, Any]:
    metrics: dict[str, float] = g["run"].data.metrics
    hf_task = {"classification": "tabular-classification", "regression": "tabular-regression"}
    task_id = hf_task.get(task, "other")
    front: dict[str, Any] = {
        "library_name": _LIBRARY.get(g["flavor"] or "", "mlflow"),
        "license": license,
        "tags": ["mlflow", "mltrack", *([g["flavor"]] if g["flavor"] else []), task_id],
        "datasets": datasets,
        "metrics": sorted({_base_metric(m) for m in metrics}),
        "model-index": [
            {
                "name": title,
                "results": [
                    {
                        "task": {"type": task_id},
                        "dataset": {
                            "name": datasets[0] if datasets else "unspecified",
                            "type": datasets[0] if datasets else "unspecified",
                        },
                        "metrics": [
                            {"type": _base_metric(m), "name": m, "value": float(v)}
                            for m, v in sorted(metrics.items())
                        ],
                    }
                ],
            }
        ],
    }
    if not datasets:
        del front["datasets"]
    return front


def model_card(
    run_or_uri: Any,
    *,
    license: str | None = None,
    feature_importance: bool = True,
) -> ModelCard:
    """Build a model card for a run or a model.

    Args:
        run_or_uri: a run id, ``runs:/ID``, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
            ``models:/m-...``, a registered model name, or an object with ``run_id`` /
            ``info.run_id`` (an mltrack ``RunInfo`` or an MLflow ``Run``).
        license: license identifier for the front matter (default: the run's ``license``
            tag, else ``other``).
        feature_importance: load a scikit-learn model to read its importances (adds a
            download; turn off for the fastest card).

    Returns:
        The card; see :class:`ModelCard` for ``markdown``, ``html``, ``save`` and
        ``log_to_run``.

    Raises:
        RunNotFoundError: no such run.
        ModelNotFoundError: no such model, version or alias.
    """
    ref = run_id_of(run_or_uri)
    if not ref:
        raise MltrackError("no run or model given; pass a run id or models:/NAME/VERSION")
    with no_download_bar():  # a few small reads and the model: no bar for each
        g = _gather(ref, feature_importance)
    run: Run = g["run"]
    resolved: ResolvedModel = g["resolved"]
    params = dict(run.data.params)
    metrics = dict(run.data.metrics)
    tags = run.data.tags
    model_class = tags.get("mltrack.model_class") or g["model_class"] or tags.get("estimator_class")
    task = task_type(metrics, model_class)
    title = resolved.name or (g["logged"].name if g["logged"] else None) or run.info.run_name
    title = title or run.info.run_id
    # Names for the metadata (a train and an eval set may both be "dataset"): once each.
    datasets = list(dict.fromkeys(d.dataset.name for d in _dataset_inputs(run)))
    notes, todo = _insights(g, task, params)
    sections = [
        _overview(g, title, task, model_class),
        _params_section(params),
        _metrics_section(metrics),
    ]
    importance = _importance_section(g["importance"])
    if importance is not None:
        sections.append(importance)
    sections += [
        _Section("Insights", [notes]),
        _Section("Recommendations", [todo]),
        _usage(g),
        _lineage(g),
    ]
    license_id = license or run.data.tags.get("license") or "other"
    data = {
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "title": title,
        "run_id": run.info.run_id,
        "experiment": g["experiment_name"],
        "model_uri": g["model_uri"],
        "registry_uri": resolved.registry_uri,
        "aliases": list(resolved.aliases),
        "flavor": g["flavor"],
        "task": task,
        "params": params,
        "metrics": metrics,
        "feature_importance": dict(g["importance"] or []),
        "datasets": datasets,
        "insights": notes,
        "recommendations": todo,
        "parent_run_id": g["parent"].info.run_id if g["parent"] is not None else None,
    }
    return ModelCard(
        title=title,
        run_id=run.info.run_id,
        data=data,
        front_matter=_front_matter(g, title, task, license_id, datasets),
        sections=sections,
    )
