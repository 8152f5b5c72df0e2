"""The tracking server's Kubernetes manifests: valid objects, no secret, and a pod that works.

There is no cluster here, so the pod is run the way the kubelet would run it: the
ConfigMap's files written where it is mounted, the Secrets' values and ``$(VAR)``
references put into each container's environment, the init container run to completion,
then the server container's command, against a real PostgreSQL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mltrack._process import free_port, keeper_command, kill_group
from mltrack.teamserver import (
    TeamServerConfig,
    check_server,
    kubernetes_manifests,
    prepare,
    server_env,
)
from mltrack.testing.postgres import PostgresCluster, load_mlflow_schema
from tests._helpers import status_for_host


def test_manifests_are_valid_objects_without_secrets() -> None:
    from kubernetes import client

    text = kubernetes_manifests(namespace="ml", replicas=3, workers=4, auth=True)
    config_map, deployment, service = yaml.safe_load_all(text)
    api = client.ApiClient()
    # The official client's models reject unknown fields and wrong types.
    cm = api._ApiClient__deserialize(config_map, "V1ConfigMap")
    dep = api._ApiClient__deserialize(deployment, "V1Deployment")
    svc = api._ApiClient__deserialize(service, "V1Service")
    assert sorted(cm.data) == ["prepare.py", "serverapp.py"]
    for source in cm.data.values():
        compile(source, "<configmap>", "exec")
    assert dep.spec.replicas == 3 and dep.metadata.namespace == "ml"
    (prepare,) = dep.spec.template.spec.init_containers
    (container,) = dep.spec.template.spec.containers
    assert prepare.command == ["python", "/opt/mltrack/prepare.py"]
    assert container.command[:3] == ["python", "-m", "uvicorn"]
    assert container.command[-1] == "serverapp:auth_app"
    assert container.command[container.command.index("--workers") + 1] == "4"
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

    plain = list(yaml.safe_load_all(kubernetes_manifests(auth=False)))
    container = plain[1]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "serverapp:plain_app"
    assert all(m["name"] != "auth-config" for m in container["volumeMounts"])


def _container_env(
    container: dict[str, Any], secrets: dict[tuple[str, str], str]
) -> dict[str, str]:
    """A container's environment as the kubelet builds it (secretKeyRef, then $(VAR))."""
    env: dict[str, str] = {}
    for var in container["env"]:
        if "valueFrom" in var:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets[(ref["name"], ref["key"])]
        else:
            env[var["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), var["value"]
            )
    return env


def _asks_for_credentials(port: int) -> bool:
    try:
        return status_for_host(port, "localhost") == 401
    except OSError:  # not listening yet
        return False


@pytest.mark.slow
@pytest.mark.postgres
def test_the_pod_prepares_the_database_and_serves_with_auth(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    database = "k8s_pod"
    postgres.create_database(database)
    load_mlflow_schema(postgres, database)
    # As the guide writes the Secret: the driver named, the one the image has (psycopg2).
    uri = postgres.uri_for(database).replace("postgresql://", "postgresql+psycopg2://")
    admin_password = "Adm1n-k8s-pod"
    config_map, deployment, _ = yaml.safe_load_all(
        kubernetes_manifests(
            artifacts=str(tmp_path / "artifacts"),
            workers=2,
            auth=True,
            allowed_hosts=("mlflow.acme.internal",),
        )
    )
    # Mounts: the ConfigMap's files and the auth-config Secret, where the pod sees them.
    app_dir = tmp_path / "opt-mltrack"
    app_dir.mkdir()
    for name, source in config_map["data"].items():
        (app_dir / name).write_text(source)
    auth_dir = tmp_path / "etc-mlflow-auth"
    auth_dir.mkdir()
    (auth_dir / "basic_auth.ini").write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {uri}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    secrets = {
        ("mlflow-db", "uri"): uri,
        ("mlflow-auth", "admin-password"): admin_password,
        ("mlflow-auth", "flask-secret-key"): "k8s-test-secret-key",
    }
    port = free_port()
    mounts = {"/opt/mltrack": str(app_dir), "/etc/mlflow-auth": str(auth_dir)}

    def localise(value: str) -> str:
        for inside, here in mounts.items():
            value = value.replace(inside, here)
        return {"python": sys.executable, "5000": str(port), "0.0.0.0": "127.0.0.1"}.get(
            value, value
        )

    def run_env(container: dict[str, Any]) -> dict[str, str]:
        env = {k: localise(v) for k, v in _container_env(container, secrets).items()}
        return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}

    spec = deployment["spec"]["template"]["spec"]
    (prepare,) = spec["initContainers"]
    done = subprocess.run(
        [localise(part) for part in prepare["command"]],
        env=run_env(prepare),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert admin_password not in done.stdout + done.stderr

    (server,) = spec["containers"]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # under a keeper: a SIGKILLed pytest takes it along
            keeper_command([localise(part) for part in server["command"]]),
            env=run_env(server),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not _asks_for_credentials(port):  # up, with the auth app in front
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        admin = f"admin:{admin_password}"
        # Clients inside the cluster name the Service; outside, the Ingress's name.
        for host in ("mlflow", "mlflow.mlflow.svc.cluster.local:80", "mlflow.acme.internal"):
            assert status_for_host(port, host, admin) == 200, host
        assert status_for_host(port, "evil.example.com", admin) == 403
        results = check_server(
            f"http://127.0.0.1:{port}", username="admin", password=admin_password
        )
        assert all(r.ok for r in results), results
    finally:
        kill_group(proc)
    assert admin_password not in log.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_prepares_at_once_on_a_new_database_both_succeed(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    """Two pods (or two ``ml server``) starting together on an empty database.

    Each runs the prepare step, which creates MLflow's schema when it is missing and
    bootstraps the admin; an advisory lock makes the second wait and find both done.
    """
    from concurrent.futures import ThreadPoolExecutor

    uri = postgres.create_database("two_pods")
    configs = [
        TeamServerConfig(backend=uri, auth=True, artifacts=str(tmp_path), state_dir=tmp_path / n)
        for n in ("pod-a", "pod-b")
    ]
    envs = []
    for config in configs:
        config.state_dir.mkdir()
        config.validate()
        envs.append({**server_env(config), "MLFLOW_AUTH_ADMIN_PASSWORD": "Adm1n-two-pods"})
    with ThreadPoolExecutor(2) as pool:
        limits = list(pool.map(prepare, configs, envs))  # raises if either failed
    assert all(limit is not None and limit.max_connections > 0 for limit in limits)
    done = postgres.run(
        "psql", "-tA", "-c", "SELECT count(*) FROM users", *postgres._conn_args("two_pods")
    )
    assert done.stdout.strip() == "1", done.stdout + done.stderr


def test_the_image_adds_what_mlflows_own_lacks() -> None:
    """MLflow's image holds core MLflow only; the pods need its PostgreSQL driver (the one
    the guide's URI names), the S3 client and the auth extra, on the MLflow installed here."""
    import mlflow

    from mltrack.teamserver import kubernetes_dockerfile

    base, install = kubernetes_dockerfile().splitlines()
    major_minor = ".".join(mlflow.__version__.split(".")[:2])
    assert base.startswith(f"FROM ghcr.io/mlflow/mlflow:v{major_minor}."), base
    assert install.split()[:4] == ["RUN", "pip", "install", "--no-cache-dir"]
    assert set(install.split()[4:]) == {"psycopg2-binary", "boto3", "Flask-WTF"}
    manifests = yaml.safe_load_all(kubernetes_manifests(image="registry.example.com/team:1"))
    deployment = [d for d in manifests if d["kind"] == "Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["containers"] + pod["initContainers"]} == {
        "registry.example.com/team:1"
    }
