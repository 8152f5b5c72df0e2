"""Fixtures for the team-server tests: a real PostgreSQL and a real MLflow server on it.

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

import pytest

from mltrack.errors import MltrackError
from mltrack.teamserver import TeamServer, TeamServerConfig, start_team_server
from mltrack.testing.postgres import PostgresCluster, load_mlflow_schema, start_postgres

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


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL could not be started: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


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


@pytest.fixture(scope="session")
def pg_team(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PgTeam]:
    """``ml server``'s machinery on PostgreSQL: proxied artifacts, basic auth, no default access."""
    root = tmp_path_factory.mktemp("pg-team")
    password = "adm-" + secrets.token_urlsafe(12)
    previous = os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD")
    os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = password  # read by the bootstrap only
    try:
        server = start_team_server(
            TeamServerConfig(
                backend=postgres.uri,
                artifacts=str(root / "artifacts"),
                auth=True,
                default_permission="NO_PERMISSIONS",
                port=0,
                workers=2,
                state_dir=root / "state",
            )
        )
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
        else:
            os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = previous
    try:
        yield PgTeam(server, postgres, password)
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
