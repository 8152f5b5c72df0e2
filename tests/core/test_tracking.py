"""@track and mltrack.run() against a real MLflow server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient
from pydantic import BaseModel

import mltrack
from tests._helpers import tracking_to


@dataclass
class Optim:
    lr: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)


class Data(BaseModel):
    path: str = "iris.csv"
    rows: int = 150


def test_track_logs_params_metrics_tags(experiment: str) -> None:
    @mltrack.track
    def train(optim: Optim, data: Data, epochs: int = 3, extra: dict | None = None) -> dict:
        return {"accuracy": 0.93, "val": {"loss": 0.21}, "note": "not a number"}

    result = train(Optim(), Data(), extra={"seed": 7})
    assert result["accuracy"] == 0.93
    run = mltrack.get_last_run(experiment)
    assert run.name == "train"
    assert run.status == "FINISHED"
    assert run.params == {
        "optim.lr": "0.01",
        "optim.betas": "(0.9, 0.99)",
        "data.path": "iris.csv",
        "data.rows": "150",
        "epochs": "3",
        "extra.seed": "7",
    }
    assert run.metrics == {"accuracy": 0.93, "val.loss": 0.21}
    assert run.tags["mltrack.version"] == mltrack.__version__
    for key in ("mlflow.user", "mltrack.host", "mltrack.python", "mltrack.mlflow_version"):
        assert run.tags[key]
    assert run.duration_s is not None and run.duration_s >= 0


def test_returned_number_is_metric_result(experiment: str) -> None:
    @mltrack.track(name="score-run")
    def score() -> float:
        return 0.5

    assert score() == 0.5
    run = mltrack.get_last_run(experiment)
    assert run.name == "score-run"
    assert run.metrics == {"result": 0.5}


def test_failure_marks_run_failed_and_reraises(experiment: str) -> None:
    @mltrack.track
    def broken(x: int) -> None:
        raise ValueError(f"bad input {x}")

    with pytest.raises(ValueError, match="bad input 3"):
        broken(3)
    run = mltrack.get_last_run(experiment)
    assert run.status == "FAILED"
    assert run.tags["mltrack.error.type"] == "ValueError"
    assert run.tags["mltrack.error.message"] == "bad input 3"
    assert run.params == {"x": "3"}


def test_nested_runs(experiment: str) -> None:
    @mltrack.track
    def child(fold: int) -> float:
        return fold / 10

    with mltrack.run("parent", params={"folds": 2}) as parent:
        child(1)
        child(2)
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    children = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.id}'"
    )
    assert sorted(r.data.metrics["result"] for r in children) == [0.1, 0.2]
    assert all(r.info.status == "FINISHED" for r in children)
    assert client.get_run(parent.id).data.params == {"folds": "2"}


def test_context_manager_metrics_with_steps(experiment: str) -> None:
    with mltrack.run("loop") as run:
        for i in range(5):
            mltrack.log_metric("loss", 1.0 / (i + 1))
        run.log_metrics({"a": 1, "b": 2}, step=10)
    history = MlflowClient().get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (0, 1.0),
        (1, 0.5),
        (2, 1 / 3),
        (3, 0.25),
        (4, 0.2),
    ]
    assert MlflowClient().get_run(run.id).data.metrics["b"] == 2


def test_async_function_is_tracked(experiment: str) -> None:
    @mltrack.track
    async def evaluate(k: int = 5) -> dict:
        await asyncio.sleep(0)
        return {"recall_at_k": 0.7}

    assert asyncio.run(evaluate()) == {"recall_at_k": 0.7}
    run = mltrack.get_last_run(experiment)
    assert run.metrics == {"recall_at_k": 0.7} and run.params == {"k": "5"}


def test_bad_params_are_sanitised_with_one_line_each(
    experiment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with mltrack.run("params", params={"long": "x" * 7000, "bad key!": 1}) as run:
        pass
    err = capsys.readouterr().err
    assert (
        "mltrack: param value of 'long' truncated from 7000 to 6000 chars to fit MLflow's limits\n"
        in err
    )
    assert "mltrack: param key 'bad key!' renamed to 'bad key_' to fit MLflow's limits\n" in err
    assert "Warning" not in err and "contextlib" not in err
    params = MlflowClient().get_run(run.id).data.params
    assert len(params["long"]) == 6000 and params["long"].endswith("...")
    assert params["bad key_"] == "1"


def test_the_links_mlflow_prints_at_a_runs_end_hide_the_uris_password(
    experiment: str, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """MLflow prints ``🏃 View run … at: URL`` built from the tracking URI, password and
    all; through mltrack.run the line is there, the password is not."""
    with_password = tracking_uri.replace("http://", "http://alice:s3cret-pw@")
    with tracking_to(with_password), mltrack.run("links") as run:
        run.log_metric("loss", 0.5)
    printed = capsys.readouterr().out
    assert "🏃 View run links at: http://alice:***@" in printed, printed
    assert "s3cret-pw" not in printed
    assert mltrack.get_run(run.id).metrics == {"loss": 0.5}


def test_get_run_unknown_id_is_clear(tracking_uri: str) -> None:
    from mltrack.errors import RunNotFoundError

    with pytest.raises(RunNotFoundError, match="ml runs"):
        mltrack.get_run("0" * 32)


def test_git_state_is_recorded(experiment: str, tmp_path, monkeypatch) -> None:
    import subprocess

    for args in (
        ["init", "-q", "-b", "dev"],
        ["config", "user.email", "t@e.x"],
        ["config", "user.name", "t"],
        ["remote", "add", "origin", "https://bob:tok@example.com/r.git"],
    ):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    (tmp_path / "f.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "f.py"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-qm", "c"], cwd=tmp_path, check=True)
    with mltrack.run("git") as run:
        pass
    tags = mltrack.get_run(run.id).tags
    assert tags["mlflow.source.git.branch"] == "dev"
    assert tags["mlflow.source.git.repoURL"] == "https://example.com/r.git"
    assert tags["mltrack.git.dirty"] == "false"
    assert len(tags["mlflow.source.git.commit"]) == 40


def test_sklearn_autolog_is_enabled_when_imported(experiment: str) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)

    @mltrack.track
    def fit(C: float = 1.0) -> None:
        LogisticRegression(C=C).fit(X, y)

    fit()
    run = mltrack.get_last_run(experiment)
    assert "training_accuracy_score" in run.metrics
    assert run.params.get("C") == "1.0"


def test_default_store_is_embedded_sqlite(tmp_path, monkeypatch) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)
    from mlflow.tracking._tracking_service import utils

    monkeypatch.setattr(utils, "_tracking_uri", None)
    with mltrack.run("local", experiment="offline-first", autolog=False) as run:
        run.log_metric("m", 1.0)
    assert (tmp_path / ".mltrack" / "mlflow.db").exists()
    assert run.tracking_uri.startswith("sqlite:///")
    assert mltrack.get_run(run.id).metrics == {"m": 1.0}
    mlflow.set_tracking_uri(None)


def test_run_info_has_artifact_and_model_uri(experiment: str, tmp_path) -> None:
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    with mltrack.run("plain", autolog=False) as plain:
        mlflow.log_text("hello", "notes/readme.txt")
    with mltrack.run("with-model", autolog=False) as run:
        model = LogisticRegression().fit(X, y)
        # Fixed requirements: MLflow's inference of them runs a subprocess per model.
        reqs = ["scikit-learn"]
        mlflow.sklearn.log_model(
            LogisticRegression(C=0.1).fit(X, y), name="draft", pip_requirements=reqs
        )
        logged = mlflow.sklearn.log_model(model, name="model", pip_requirements=reqs)

    info = mltrack.get_run(run.id)
    assert info.model_uri == logged.model_uri  # the latest model the run logged
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert (loaded.predict(X) == model.predict(X)).all()
    assert mltrack.get_last_run(experiment).model_uri == logged.model_uri
    assert run.id in info.artifact_uri

    bare = mltrack.get_run(plain.id)
    assert bare.model_uri is None
    assert bare.artifact_uri and plain.id in bare.artifact_uri
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{bare.artifact_uri}/notes/readme.txt", dst_path=str(tmp_path)
    )
    assert Path(path).read_text() == "hello"


def test_run_is_complete_on_the_server_when_its_block_returns(
    experiment: str, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read-after-write: plain MLflow reads (no mltrack flush) see every value and the status."""
    from mltrack.logging import get_logger

    # Nothing leaves the queue on a timer during this test: only the run's end sends it.
    monkeypatch.setattr(get_logger(tracking_uri).settings, "flush_interval_s", 3600.0)
    client = MlflowClient()

    with mltrack.run("complete", params={"lr": 0.1}) as run:
        for i in range(2500):  # 2 full batches and a partial one
            mltrack.log_metric("loss", 1 / (i + 1), step=i)
        run.log_metrics({"accuracy": 0.9, "f1": 0.8})
    stored = client.get_run(run.id)
    assert stored.info.status == "FINISHED" and stored.info.end_time is not None
    assert stored.data.params == {"lr": "0.1"}
    assert stored.data.metrics == {"loss": 1 / 2500, "accuracy": 0.9, "f1": 0.8}
    assert len(client.get_metric_history(run.id, "loss")) == 2500

    @mltrack.track
    def failing(epochs: int = 2) -> None:
        for epoch in range(epochs):
            mltrack.log_metric("loss", 0.5 - epoch / 10)
        raise ValueError("diverged")

    with pytest.raises(ValueError, match="diverged"):
        failing()
    (last,) = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id],
        filter_string="attributes.run_name = 'failing'",
    )
    assert last.info.status == "FAILED" and last.info.end_time is not None
    assert last.data.metrics == {"loss": 0.4}
    assert last.data.params == {"epochs": "2"}
    assert last.data.tags["mltrack.error.type"] == "ValueError"
    assert last.data.tags["mltrack.error.message"] == "diverged"
