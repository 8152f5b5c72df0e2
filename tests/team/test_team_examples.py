"""The team examples the docs show: manifests validated, the PostgreSQL walk-through run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_kubernetes_example_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "team_kubernetes.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "kind: Deployment" in done.stdout and "s3://acme-ml/mlflow-artifacts" in done.stdout
    kinds = [doc["kind"] for doc in yaml.safe_load_all((tmp_path / "mlflow.yaml").read_text())]
    assert kinds == ["ConfigMap", "Deployment", "Service"]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.usefixtures("pg_bin")
def test_postgres_walkthrough_example(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "team_postgres.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "mltrack team server http://127.0.0.1:" in output
    assert "signed in as 'admin' (admin)" in output and "round trip" in output
    assert "logged 100 values to run" in output and "loss at the end: 0.01" in output
