"""The team examples the docs show: the Kubernetes manifests validated.

The PostgreSQL walk-through (``examples/team_postgres.py``) is run by the docs build,
which ``make test`` starts with; its checks assert each step (the server's
banner, ``--check`` signed in, the round trip).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
