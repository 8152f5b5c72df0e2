"""The buffered logger: batching, and nothing lost or duplicated when the server dies."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

import mltrack
from mltrack.localserver import free_port, kill_group, start_server
from mltrack.logging import get_logger
from tests._helpers import run_ml


def _ml(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_ml(*args, cwd=cwd, env=env)


def test_10k_values_arrive_in_batches(experiment: str) -> None:
    with mltrack.run("many") as run:
        for i in range(10_000):
            mltrack.log_metric("v", float(i), step=i)
    logger = get_logger(run.tracking_uri)
    assert logger.peak_queue >= 1
    history = MlflowClient().get_metric_history(run.id, "v")
    assert len(history) == 10_000
    assert sum(m.value for m in history) == sum(range(10_000))


def test_log_metric_without_run_is_a_clear_error(tracking_uri: str) -> None:
    from mltrack.errors import MltrackError

    with pytest.raises(MltrackError, match="no active run"):
        mltrack.log_metric("x", 1.0)


@pytest.mark.slow
def test_server_stopped_mid_run_nothing_lost_after_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(root=tmp_path / "server")
    try:
        project = tmp_path / "project"
        project.mkdir()
        monkeypatch.chdir(project)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.setenv("MLTRACK_LOGGING__RETRY_INTERVAL_S", "0.3")
        monkeypatch.setenv("MLTRACK_LOGGING__FLUSH_INTERVAL_S", "0.1")
        mlflow.set_tracking_uri(server.url)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mltrack.run("resilient", experiment="resilience", autolog=False) as run:
                for i in range(1000):
                    mltrack.log_metric("x", float(i), step=i)
                assert mltrack.flush(timeout=60)
                kill_group(server.process)  # the server dies; its store stays
                for i in range(1000, 3000):
                    mltrack.log_metric("x", float(i), step=i)
                mltrack.flush(timeout=60)
        unreachable = [w for w in caught if "unreachable" in str(w.message)]
        assert len(unreachable) == 1, [str(w.message) for w in caught]
        spool = get_logger(server.url).spool
        assert spool.pending_values() > 0

        server.restart()
        result = _ml("sync", env={"MLFLOW_TRACKING_URI": server.url}, cwd=project)
        assert result.returncode == 0, result.stderr
        mltrack.flush(timeout=60)
        client = MlflowClient(server.url)
        history = client.get_metric_history(run.id, "x")
        assert len(history) == 3000
        assert sorted(m.step for m in history) == list(range(3000))
        assert sum(m.value for m in history) == sum(range(3000))
        assert client.get_run(run.id).info.status == "FINISHED"
        assert spool.is_empty()
        # Replaying again changes nothing: no duplicates.
        again = _ml("sync", env={"MLFLOW_TRACKING_URI": server.url}, cwd=project)
        assert again.returncode == 0 and "nothing to sync" in again.stdout
        assert len(client.get_metric_history(run.id, "x")) == 3000
    finally:
        server.stop()
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_run_started_while_unreachable_is_created_by_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)

    @mltrack.track
    def evaluate(split: str = "val") -> dict:
        return {"f1": 0.75}

    @mltrack.track(experiment="offline-exp")
    def train(lr: float = 0.5) -> dict:
        for step in range(50):
            mltrack.log_metric("loss", 1 / (step + 1))
        evaluate()  # a nested run of a spooled run is spooled too, under its parent
        return {"accuracy": 0.8}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train() == {"accuracy": 0.8}  # training is never stopped by the server
    assert any("unreachable" in str(w.message) for w in caught)

    server = start_server(root=tmp_path / "server", port=port)
    try:
        result = _ml("sync", env={"MLFLOW_TRACKING_URI": url}, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        # Either `ml sync` or this process's logger (which probes the server) replayed it;
        # the spool lock makes sure the run exists exactly once.
        mltrack.flush(timeout=60)
        client = MlflowClient(url)
        exp = client.get_experiment_by_name("offline-exp")
        runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
        assert sorted(runs) == ["evaluate", "train"]
        run, child = runs["train"], runs["evaluate"]
        assert child.data.tags["mlflow.parentRunId"] == run.info.run_id
        assert child.data.metrics == {"f1": 0.75} and child.info.status == "FINISHED"
        assert run.info.run_name == "train"
        assert run.info.status == "FINISHED"
        assert run.data.params == {"lr": "0.5"}
        assert run.data.metrics["accuracy"] == 0.8
        assert run.data.tags["mltrack.spooled"] == "true"
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 50
    finally:
        server.stop()
        mlflow.set_tracking_uri(None)
