"""Fixtures for the team-server tests: a real PostgreSQL and a real MLflow server on it,
and a lighter sqlite-backed server with basic auth for the client-side (CLI) tests.

PostgreSQL comes from the Debian ``postgresql`` package (``.ci/run`` installs it). When
it cannot be started the tests fail with the reason under CI (env ``CI`` set) and are
skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from mltrack.errors import MltrackError
from mltrack.teamserver import TeamServer, TeamServerConfig, create_user, start_team_server
from mltrack.testing.postgres import (
    PostgresCluster,
    find_pg_bin,
    load_mlflow_schema,
    start_postgres,
)

ADMIN = "admin"


@dataclass
class PgTeam:
    """The shared PostgreSQL-backed team server with basic auth."""

    server: TeamServer
    postgres: PostgresCluster
    admin_password: str

    @property
    def url(self) -> str:
        return self.server.url


def _unavailable(reason: str) -> NoReturn:
    message = f"PostgreSQL could not be started: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_bin() -> Path:
    """PostgreSQL's programs, for a test that starts clusters of its own."""
    try:
        return find_pg_bin()
    except MltrackError as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster with MLflow's schema loaded; always removed."""
    try:
        cluster = start_postgres()
    except MltrackError as exc:
        _unavailable(str(exc))
    try:
        load_mlflow_schema(cluster)
        yield cluster
    finally:
        cluster.stop()


def _start_auth_server(backend: str, root: Path, admin_password: str, workers: int) -> TeamServer:
    """A team server with basic auth where nobody may do anything until granted (the
    admin's password given in the config: it reaches the server, not os.environ)."""
    return start_team_server(
        TeamServerConfig(
            backend=backend,
            artifacts=str(root / "artifacts"),
            auth=True,
            default_permission="NO_PERMISSIONS",
            port=0,
            workers=workers,
            state_dir=root / "state",
            admin_password=admin_password,
        )
    )


@pytest.fixture(scope="session")
def pg_team(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PgTeam]:
    """``ml server``'s machinery on PostgreSQL: proxied artifacts, basic auth, no default access."""
    root = tmp_path_factory.mktemp("pg-team")
    password = "adm-" + secrets.token_urlsafe(12)
    server = _start_auth_server(postgres.uri, root, password, workers=2)
    try:
        yield PgTeam(server, postgres, password)
    finally:
        server.stop()


@dataclass
class AuthTeam:
    """A sqlite-backed team server with basic auth and users alice and bob (no grants)."""

    server: TeamServer
    admin_password: str
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def env(self, user: str | None, password: str | None = None) -> dict[str, str]:
        """Client environment for ``user`` (its real password unless one is given)."""
        return {
            "MLFLOW_TRACKING_URI": self.url,
            "MLFLOW_TRACKING_USERNAME": user or "",
            "MLFLOW_TRACKING_PASSWORD": password or self.passwords.get(user or "", ""),
        }


@pytest.fixture(scope="session")
def auth_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthTeam]:
    """``ml server --auth`` on sqlite (no PostgreSQL needed), nobody may read by default."""
    root = tmp_path_factory.mktemp("auth-team")
    admin_password = "adm-" + secrets.token_urlsafe(12)
    server = _start_auth_server(f"sqlite:///{root / 'mlflow.db'}", root, admin_password, workers=1)
    try:
        passwords = {name: f"{name}-" + secrets.token_urlsafe(12) for name in ("alice", "bob")}
        for name, password in passwords.items():
            create_user(server.url, name, password, ADMIN, admin_password)
        yield AuthTeam(server, admin_password, passwords)
    finally:
        server.stop()


@pytest.fixture()
def as_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Switch this test's client identity: ``as_user(url, name, password)``."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("MLTRACK_")]:
        monkeypatch.delenv(var, raising=False)

    def switch(url: str, username: str, password: str) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        mlflow.set_tracking_uri(url)

    yield switch
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
