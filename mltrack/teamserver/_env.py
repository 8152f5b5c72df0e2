"""The environment MLflow's server reads: stores, auth config, secret key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mltrack.serverapp import (
    ALLOWED_HOSTS_ENV,
)
from mltrack.teamserver._config import TeamServerConfig

# Tells MLflow's workers the admin user was bootstrapped already (by the prepare step).
_ADMIN_BOOTSTRAPPED = {"_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED": "true"}


def _secret_key(state_dir: Path) -> str:
    """MLFLOW_FLASK_SERVER_SECRET_KEY, or one generated once and kept in ``state_dir``."""
    if os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        return os.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    path = state_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def _write_auth_ini(config: TeamServerConfig) -> Path:
    """MLflow's basic_auth.ini with our database and default permission (no password)."""
    path = config.state_dir / "basic_auth.ini"
    admin = os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin"
    text = (
        "[mlflow]\n"
        f"default_permission = {config.default_permission}\n"
        f"database_uri = {config.resolved_auth_db.replace('%', '%%')}\n"
        f"admin_username = {admin}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Without a cache every request pays a PBKDF2 hash (~0.1 s of CPU): a team logging
        # metrics from many processes needs it. A changed password is honoured by every
        # worker after at most this many seconds.
        "auth_cache_ttl_seconds = 30\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _mlflow_server_vars(backend: str, artifacts: str, serve_artifacts: bool) -> dict[str, str]:
    """What ``mlflow server`` hands the app in its workers: the stores, through variables."""
    env = {
        "_MLFLOW_SERVER_FILE_STORE": backend,
        "_MLFLOW_SERVER_REGISTRY_STORE": backend,
        "_MLFLOW_SGI_NAME": "uvicorn",
        # Background jobs (GenAI judges) need extra services; a tracking server does not.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    if serve_artifacts:
        env["_MLFLOW_SERVER_SERVE_ARTIFACTS"] = "true"
        env["_MLFLOW_SERVER_ARTIFACT_ROOT"] = "mlflow-artifacts:/"
        env["_MLFLOW_SERVER_ARTIFACT_DESTINATION"] = artifacts
    else:
        env["_MLFLOW_SERVER_ARTIFACT_ROOT"] = artifacts
    return env


def server_env(config: TeamServerConfig) -> dict[str, str]:
    """The environment of the server processes (MLflow's ``mlflow server`` contract)."""
    env = dict(os.environ)
    # A server inherits nothing from the client side of the caller's environment.
    for key in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
    ):
        env.pop(key, None)
    env.update(
        _mlflow_server_vars(config.backend, config.artifacts_location, config.serve_artifacts)
    )
    env["PYTHONWARNINGS"] = "ignore"
    hosts = config.host_names()
    if hosts:
        env[ALLOWED_HOSTS_ENV] = ",".join(hosts)
    if config.auth:
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(_write_auth_ini(config).resolve())
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = _secret_key(config.state_dir)
        if config.admin_password:
            env["MLFLOW_AUTH_ADMIN_PASSWORD"] = config.admin_password
    return env
