"""The team examples the docs show: manifests validated, the PostgreSQL walk-through run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mltrack.errors import MltrackError
from mltrack.teamserver import kubernetes_manifests

ROOT = Path(__file__).resolve().parents[2]


def test_kubernetes_manifests_are_valid_objects_without_secrets() -> None:
    from kubernetes import client

    text = kubernetes_manifests(namespace="ml", replicas=3, workers=4, auth=True)
    deployment, service = yaml.safe_load_all(text)
    api = client.ApiClient()
    # The official client's models reject unknown fields and wrong types.
    dep = api._ApiClient__deserialize(deployment, "V1Deployment")
    svc = api._ApiClient__deserialize(service, "V1Service")
    assert dep.spec.replicas == 3 and dep.metadata.namespace == "ml"
    container = dep.spec.template.spec.containers[0]
    assert container.command == ["mlflow"] and "--app-name" in container.args
    assert container.args[container.args.index("--workers") + 1] == "4"
    assert container.readiness_probe.http_get.path == "/health"
    secret_vars = {e.name for e in container.env if e.value_from is not None}
    assert {
        "MLFLOW_BACKEND_STORE_URI",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
    } <= secret_vars
    assert svc.spec.selector == dep.spec.selector.match_labels
    assert "password" not in text.lower().replace("admin-password", "").replace(
        "mlflow_auth_admin_password", ""
    )

    plain = yaml.safe_load_all(kubernetes_manifests(auth=False))
    container = next(plain)["spec"]["template"]["spec"]["containers"][0]
    assert "--app-name" not in container["args"] and "volumeMounts" not in container


def test_kubernetes_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "team_kubernetes.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "kind: Deployment" in done.stdout and "s3://acme-ml/mlflow-artifacts" in done.stdout


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_walkthrough_example(tmp_path: Path) -> None:
    from mltrack.testing.postgres import find_pg_bin

    try:
        find_pg_bin()
    except MltrackError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL could not be started: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL could not be started: {exc}")
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
