"""Shared fixtures: one real MLflow server per test session, on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mltrack.localserver import ThrowawayServer, start_server

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[ThrowawayServer]:
    """A real MLflow tracking server (sqlite + proxied artifacts in a temp dir).

    Started once per session (per xdist worker); always stopped and removed.
    """
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def tracking_uri(
    mlflow_server: ThrowawayServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """Point MLflow and mltrack at the session server, from a clean project directory.

    Each test gets its own working directory (so no `.mltrack.yml` leaks in) and a
    fresh experiment name via ``MLTRACK_EXPERIMENT``.
    """
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    for var in [v for v in os.environ if v.startswith("MLTRACK_")]:
        monkeypatch.delenv(var, raising=False)
    mlflow.set_tracking_uri(mlflow_server.url)
    yield mlflow_server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture()
def experiment(
    tracking_uri: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A unique experiment name for this test, set as the default for mltrack."""
    import uuid

    name = f"{request.node.name[:60]}-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLTRACK_EXPERIMENT", name)
    return name
