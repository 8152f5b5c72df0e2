"""Kubernetes manifests that run what ``ml server`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mltrack.serverapp
from mltrack.serverapp import (
    ALLOWED_HOSTS_ENV,
    uvicorn_command,
)
from mltrack.teamserver import _prepare_db
from mltrack.teamserver._config import _check_host_names, _host_patterns
from mltrack.teamserver._env import _ADMIN_BOOTSTRAPPED, _mlflow_server_vars

_K8S_APP_DIR = "/opt/mltrack"
#: MLflow's own image: core MLflow only, no database driver, no S3 client, no auth extra.
MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.17.0"
#: What the pods need on top of it: PostgreSQL (psycopg2), S3 (boto3), auth (Flask-WTF).
_IMAGE_PACKAGES = ("psycopg2-binary", "boto3", "Flask-WTF")
_K8S_AUTH_CONFIG = "/etc/mlflow-auth/basic_auth.ini"


def kubernetes_dockerfile(base: str = MLFLOW_IMAGE) -> str:
    """The Dockerfile of the image :func:`kubernetes_manifests` runs.

    MLflow's own image holds core MLflow only: a pod on it against PostgreSQL fails with
    ``No module named 'psycopg2'``. This adds the PostgreSQL driver, the S3 client and
    the auth extra. Build it and push it where your cluster pulls from::

        docker build -t registry.example.com/mlflow-team:3.17.0 .
        docker push registry.example.com/mlflow-team:3.17.0

    Args:
        base: the image to start from (MLflow 3.17).

    Returns:
        The Dockerfile's text.
    """
    packages = " ".join(_IMAGE_PACKAGES)
    return f"FROM {base}\nRUN pip install --no-cache-dir {packages}\n"


def kubernetes_manifests(
    *,
    name: str = "mlflow",
    namespace: str = "mlflow",
    image: str = "mlflow-team:3.17.0",
    artifacts: str = "s3://CHANGE-ME/mlflow-artifacts",
    replicas: int = 2,
    workers: int = 2,
    auth: bool = True,
    allowed_hosts: tuple[str, ...] = (),
) -> str:
    """Kubernetes manifests (ConfigMap + Deployment + Service) for the tracking server, as YAML.

    The pods run MLflow's own image and app, the way ``ml server`` runs them: a ConfigMap
    carries mltrack's two small standard-library files, the worker app
    (:mod:`mltrack.serverapp`: request threads capped to the connection pool, extra
    Host names) and the prepare step ``ml server`` runs before its workers (schema set-up
    and, with auth, the admin user), which runs here as an init container. The image is
    MLflow 3.17's with ``psycopg2-binary``, ``boto3`` for S3 and ``Flask-WTF`` for auth
    added (MLflow's own has none of them): build it from :func:`kubernetes_dockerfile`.

    No secret value is in the output: the database URI, the admin password, the Flask
    secret key and the auth config (whose ``database_uri`` holds a password) come from
    Secrets you create with ``kubectl create secret`` (see the Team setup guide).
    Replicas are stateless; they share the database and the Flask secret key.

    Args:
        name: base name of the objects (and the ``app`` label).
        namespace: namespace the objects go to.
        image: the image built from :func:`kubernetes_dockerfile`, as your cluster pulls
            it (``registry.example.com/mlflow-team:3.17.0``).
        artifacts: artifact store the server proxies.
        replicas: server pods.
        workers: uvicorn workers per pod.
        auth: run the ``basic-auth`` app.
        allowed_hosts: host names clients use besides the Service's own (an Ingress's,
            say); MLflow refuses other names with 403 "Invalid Host header".

    Returns:
        Multi-document YAML text, ready for ``kubectl apply -f -``.
    """
    import yaml

    _check_host_names(allowed_hosts)
    labels = {"app": name}
    dns = f"{name}.{namespace}.svc"  # the Service's names inside the cluster
    hosts = _host_patterns(
        [name, f"{name}.{namespace}", dns, f"{dns}.cluster.local", *allowed_hosts]
    )
    # Later entries may refer to earlier ones: $(VAR) is expanded by Kubernetes.
    env: list[dict[str, Any]] = [
        _secret_env("MLFLOW_BACKEND_STORE_URI", f"{name}-db", "uri"),
        *(
            {"name": key, "value": value}
            for key, value in _mlflow_server_vars(
                "$(MLFLOW_BACKEND_STORE_URI)", artifacts, serve_artifacts=True
            ).items()
        ),
        {"name": ALLOWED_HOSTS_ENV, "value": ",".join(hosts)},
    ]
    volumes: list[dict[str, Any]] = [{"name": "mltrack", "configMap": {"name": f"{name}-mltrack"}}]
    mounts: list[dict[str, Any]] = [
        {"name": "mltrack", "mountPath": _K8S_APP_DIR, "readOnly": True}
    ]
    if auth:
        env += [
            _secret_env("MLFLOW_AUTH_ADMIN_PASSWORD", f"{name}-auth", "admin-password"),
            _secret_env("MLFLOW_FLASK_SERVER_SECRET_KEY", f"{name}-auth", "flask-secret-key"),
            {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": _K8S_AUTH_CONFIG},
        ]
        volumes.append({"name": "auth-config", "secret": {"secretName": f"{name}-auth-config"}})
        mounts.append(
            {
                "name": "auth-config",
                "mountPath": str(Path(_K8S_AUTH_CONFIG).parent),
                "readOnly": True,
            }
        )
    common: dict[str, Any] = {
        "image": image,
        "env": env,
        # Object-store credentials (AWS_ACCESS_KEY_ID, ...) when the Secret exists.
        "envFrom": [{"secretRef": {"name": f"{name}-artifacts", "optional": True}}],
        "volumeMounts": mounts,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
        },
    }
    prepare_container = {
        "name": "prepare",
        **common,
        "command": ["python", f"{_K8S_APP_DIR}/prepare.py"],
    }
    server_env_list = list(env)
    if auth:  # the init container created the admin; the workers need not try again
        server_env_list += [{"name": k, "value": v} for k, v in _ADMIN_BOOTSTRAPPED.items()]
    container: dict[str, Any] = {
        "name": "mlflow",
        **common,
        "env": server_env_list,
        "command": uvicorn_command(
            "0.0.0.0", 5000, workers, auth=auth, python="python", app_dir=_K8S_APP_DIR
        ),
        "ports": [{"name": "http", "containerPort": 5000}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
        },
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "2Gi"},
        },
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-mltrack", "namespace": namespace, "labels": dict(labels)},
        "data": {
            "serverapp.py": Path(mltrack.serverapp.__file__).read_text(),
            "prepare.py": Path(_prepare_db.__file__).read_text(),
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "initContainers": [prepare_container],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "selector": dict(labels),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    return yaml.dump_all(
        [config_map, deployment, service],
        Dumper=_literal_dumper(),
        sort_keys=False,
        allow_unicode=True,
    )


def _literal_block(dumper: Any, value: str) -> Any:
    # The ConfigMap's Python files stay readable (and diffable) as YAML block scalars.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _literal_dumper() -> Any:
    import yaml

    class LiteralDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # the two containers share env lists: write them out, no &id001

    LiteralDumper.add_representer(str, _literal_block)
    return LiteralDumper


def _secret_env(var: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
