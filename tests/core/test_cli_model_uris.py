"""Every `ml` command that takes a model resolves runs:/ and models:/ URIs against the
configured store: here a project directory that has only mltrack's embedded store."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._helpers import ml_in_process


@dataclass
class LoggedModel:
    run_id: str
    model_id: str


@pytest.fixture
def logged_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoggedModel:
    """A model logged in a project (``tmp_path``, the working directory) that has no
    tracking settings at all: only mltrack's embedded store can answer."""
    import mlflow
    import numpy as np
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils
    from sklearn.linear_model import LogisticRegression

    import mltrack

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
    return LoggedModel(run.id, info.model_id)


def test_model_uris_resolve_against_the_embedded_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    logged_model: LoggedModel,
) -> None:
    from mlflow.tracking._tracking_service import utils as tracking_utils

    run_id, model_id = logged_model.run_id, logged_model.model_id

    def ml(*args: str) -> subprocess.CompletedProcess[str]:
        # As a new `ml` process starts: no URI set in code, none in the environment.
        monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return ml_in_process(*args)

    saved = ml("save", "uri-demo", "--run", run_id)
    assert (saved.returncode, saved.stdout.strip()) == (0, "models:/uri-demo/1"), saved.stderr
    for uri in (f"runs:/{run_id}/model", f"models:/{model_id}", "models:/uri-demo/1"):
        tried = ml("try", uri)
        assert tried.returncode == 0 and "latency:" in tried.stdout, (uri, tried)
        shipped = ml("ship", uri, "--local", "--dry-run")
        assert shipped.returncode == 0, (uri, shipped)
        assert f"model: {uri}" in shipped.stdout and "dry run" in shipped.stdout, (uri, shipped)
        card = ml("card", uri)
        assert card.returncode == 0 and "LogisticRegression" in card.stdout, (uri, card)
    docker = ml("ship", f"models:/{model_id}", "--to", "docker", "--dry-run")
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


def test_ml_try_on_a_terminal_shows_its_spinner_and_no_stray_blank_line(
    tmp_path: Path, logged_model: LoggedModel
) -> None:
    # A real terminal: Rich draws its spinner only there, and MLflow's download bar
    # (tqdm) drawn under it used to leave a blank line above the prediction.
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltrack", "try", f"runs:/{logged_model.run_id}/model"],
        cwd=tmp_path,
        env=env | {"TERM": "xterm", "COLUMNS": "100", "LINES": "30"},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=10) == 0, output.decode(errors="replace")
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.decode(errors="replace")
    assert "Loading runs:/" in text and "latency:" in text, text  # the spinner was drawn
    # Rich prints what another writer sent meanwhile above its spinner: the line is
    # cleared (ESC[2K) and a newline follows. tqdm's carriage-return bar came out empty.
    assert b"\x1b[2K\r\n" not in output, text
    assert "Downloading artifacts" not in text, text
