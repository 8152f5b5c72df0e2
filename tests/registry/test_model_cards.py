"""Model cards from real runs: sections present, numbers equal to what MLflow holds."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from mltrack import registry
from mltrack.artifact_reads import DOWNLOAD_BAR_ENV
from mltrack.cards import interpret_metric, metric_direction, model_card, task_type
from mltrack.errors import ConfigError, ModelNotFoundError, RunNotFoundError

SECTIONS = [
    "Overview",
    "Hyperparameters",
    "Metrics",
    "Feature importance",
    "Insights",
    "Recommendations",
    "Usage",
    "Lineage",
]


def _front_matter(markdown: str) -> dict[str, Any]:
    match = re.match(r"^---\n(.*?)\n---\n", markdown, re.S)
    assert match, "the card starts with a YAML front matter"
    return yaml.safe_load(match.group(1))


def test_card_for_registered_version_matches_mlflow(train: Any, experiment: str) -> None:
    trained = train(max_depth=None)
    info = registry.save(trained.model, name=experiment, run=trained.run_id, quiet=True)
    registry.promote(experiment, info.version, to="champion", reason="first model")

    card = model_card(f"models:/{experiment}@champion")
    held = MlflowClient().get_run(trained.run_id)
    md = card.markdown
    for title in SECTIONS:
        assert f"\n## {title}\n" in md, title
    front = _front_matter(md)
    assert front["library_name"] == "sklearn" and front["datasets"] == ["synthetic"]
    result = front["model-index"][0]["results"][0]
    assert result["task"]["type"] == "tabular-classification"
    assert {m["name"]: m["value"] for m in result["metrics"]} == held.data.metrics
    assert card.data["params"] == held.data.params
    for name, value in held.data.metrics.items():
        assert f"| `{name}` | {value:.4g} |" in md or f"| `{name}` | {int(value)} |" in md
    # importances are the fitted model's, by feature name
    expected = dict(
        zip(trained.model.feature_names_in_, trained.model.feature_importances_, strict=True)
    )
    assert card.data["feature_importance"] == pytest.approx(expected)
    assert card.data["registry_uri"] == f"models:/{experiment}/1"
    assert card.data["aliases"] == ["champion"] and card.data["task"] == "classification"
    assert "max_depth=None" in md and "synthetic" in md and trained.run_id in md
    assert f'mlflow.pyfunc.load_model("models:/{experiment}/1")' in md
    assert '"dataframe_split"' in md  # REST payload from the stored input example


def test_card_html_is_standalone_and_logged_to_run(train: Any, tmp_path: Path) -> None:
    trained = train()
    card = model_card(trained.run_id)
    page = card.html
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "http://" not in page.split("<body>")[0]
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    target = card.save(tmp_path / "card.html")
    assert target.read_text() == page
    assert card.save(tmp_path / "card.md").read_text() == card.markdown
    for name in ("markdown", "md", "Markdown"):  # ml card --format's names, alias included
        assert card.save(tmp_path / "card.txt", format=name).read_text() == card.markdown
    with pytest.raises(ConfigError, match="unknown card format 'pdf': use markdown or html"):
        card.save(tmp_path / "card.pdf", format="pdf")
    assert card.log_to_run() == ["model_card.md", "model_card.html"]
    stored = mlflow.artifacts.load_text(f"runs:/{trained.run_id}/model_card.md")
    assert stored == card.markdown


def test_card_flags_overfitting_and_missing_lineage(train: Any) -> None:
    trained = train(
        metrics={"train_accuracy": 1.0, "val_accuracy": 0.71, "val_f1": 0.7}, log_data=False
    )
    card = model_card(trained.run_id, feature_importance=False)
    assert any("Possible overfitting" in note for note in card.data["insights"])
    assert any("mlflow.log_input" in todo for todo in card.data["recommendations"])
    assert any("ml save" in todo for todo in card.data["recommendations"])
    assert "Feature importance" not in card.markdown
    assert "datasets" not in card.front_matter


def test_card_lineage_names_the_parent_run(experiment: str) -> None:
    mlflow.set_experiment(experiment)
    with (
        mlflow.start_run(run_name="sweep") as parent,
        mlflow.start_run(run_name="trial", nested=True) as child,
    ):
        mlflow.log_metrics({"r2": 0.8, "rmse": 1.5})
    card = model_card(child.info.run_id)
    assert card.data["parent_run_id"] == parent.info.run_id
    assert f"| Parent run | `{parent.info.run_id}` (sweep) |" in card.markdown
    assert card.data["task"] == "regression" and card.front_matter["library_name"] == "mlflow"
    assert "No model was logged" in card.markdown


def test_card_bad_references(tracking_uri: str) -> None:
    with pytest.raises(RunNotFoundError):
        model_card("f" * 32)
    with pytest.raises(ModelNotFoundError):
        model_card("models:/no-such-model-xyz/1")


def test_metric_knowledge() -> None:
    assert interpret_metric("val_accuracy", 0.97).startswith("Excellent")
    assert interpret_metric("roc_auc", 0.5).startswith("No better than chance")
    assert interpret_metric("r2", -0.2).startswith("Worse than predicting the mean")
    assert interpret_metric("log_loss", 0.9).startswith("No better than guessing")
    assert "lower is better" in interpret_metric("rmse", 3.2)
    assert interpret_metric("my_custom", 1.0) == ""
    assert metric_direction("val_rmse") is False and metric_direction("f1_score") is True
    assert task_type({"r2": 0.5}) == "regression"
    assert task_type({}, "GradientBoostingClassifier") == "classification"


def test_card_names_each_dataset_once_and_draws_no_download_bar(
    train: Any,
    data: tuple[Any, Any, Any, Any],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DOWNLOAD_BAR_ENV, raising=False)  # MLflow's default: a bar per download
    trained = train()
    _, X_val, _, y_val = data
    # Two inputs of one name, as sklearn autolog logs its train and eval sets ("dataset").
    with mlflow.start_run(run_id=trained.run_id):
        evaluation = mlflow.data.from_pandas(X_val.assign(y=y_val), name="synthetic", targets="y")
        mlflow.log_input(evaluation, context="eval")
    capfd.readouterr()

    card = model_card(trained.run_id)

    written = capfd.readouterr()
    assert "Downloading artifacts" not in written.err + written.out
    assert card.data["feature_importance"], "the model was loaded (a download of its own)"
    assert _front_matter(card.markdown)["datasets"] == ["synthetic"]
    lineage = card.markdown.split("\n## Lineage\n", 1)[1]
    assert "| synthetic | training |" in lineage and "| synthetic | eval |" in lineage
    assert DOWNLOAD_BAR_ENV not in os.environ  # the user's setting (none) is back
