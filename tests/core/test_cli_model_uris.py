"""Every `ml` command that takes a model resolves runs:/ and models:/ URIs against the
configured store: here a project directory that has only mltrack's embedded store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests._helpers import ml_in_process


def test_model_uris_resolve_against_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import mlflow
    import numpy as np
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils
    from sklearn.linear_model import LogisticRegression

    import mltrack

    # A project with no tracking settings at all: only the embedded store can answer.
    for var in [v for v in os.environ if v.startswith(("MLFLOW_", "MLTRACK_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("MLTRACK_AUTOLOG", "false")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # restored for later tests

    X = np.random.RandomState(0).rand(40, 2)
    y = (X[:, 0] > 0.5).astype(int)
    with mltrack.run("uri-check") as run:
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(X, y),
            name="model",
            input_example=X[:2],
            pip_requirements=["scikit-learn"],  # MLflow's inference runs a process: seconds
        )

    def ml(*args: str) -> subprocess.CompletedProcess[str]:
        # As a new `ml` process starts: no URI set in code, none in the environment.
        monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return ml_in_process(*args)

    saved = ml("save", "uri-demo", "--run", run.id)
    assert (saved.returncode, saved.stdout.strip()) == (0, "models:/uri-demo/1"), saved.stderr
    for uri in (f"runs:/{run.id}/model", f"models:/{info.model_id}", "models:/uri-demo/1"):
        tried = ml("try", uri)
        assert tried.returncode == 0 and "latency:" in tried.stdout, (uri, tried)
        shipped = ml("ship", uri, "--local", "--dry-run")
        assert shipped.returncode == 0, (uri, shipped)
        assert f"model: {uri}" in shipped.stdout and "dry run" in shipped.stdout, (uri, shipped)
        card = ml("card", uri)
        assert card.returncode == 0 and "LogisticRegression" in card.stdout, (uri, card)
    docker = ml("ship", f"models:/{info.model_id}", "--to", "docker", "--dry-run")
    assert docker.returncode == 0 and "docker build" in docker.stdout, docker
    missing = ml("try", f"runs:/{'0' * 32}/model")
    assert missing.returncode == 2  # every mltrack error exits 2 with one line
    assert missing.stderr.startswith(
        f"error: no run with id '{'0' * 32}'; list runs with `ml runs`"
    )
    assert len(missing.stderr.strip().splitlines()) == 1
    # MLflow's default store in the working directory was never created or touched.
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert (tmp_path / ".mltrack" / "mlflow.db").is_file()
    written = capfd.readouterr()
    assert "Creating initial MLflow database tables" not in written.out + written.err
