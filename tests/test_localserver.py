"""The throwaway server starter used by tests, docs and benchmarks."""

from __future__ import annotations

import os
import urllib.request

import pytest

from mltrack.errors import ServerStartError
from mltrack.localserver import ThrowawayServer, free_port, start_server


def test_session_server_is_healthy_and_accepts_writes(mlflow_server: ThrowawayServer) -> None:
    from mlflow import MlflowClient

    with urllib.request.urlopen(mlflow_server.url + "/health") as resp:
        assert resp.status == 200
    client = MlflowClient(mlflow_server.url)
    exp = client.create_experiment("localserver-roundtrip")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "m", 1.5)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}
    assert mlflow_server.url.startswith("http://127.0.0.1:")


@pytest.mark.slow
def test_stop_kills_process_group_and_removes_dir() -> None:
    server = start_server()
    root, pid = server.root, server.process.pid
    assert root.is_dir()
    server.stop()
    assert not root.exists()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    server.stop()  # idempotent


def test_port_in_use_is_a_clear_error(mlflow_server: ThrowawayServer, tmp_path) -> None:
    with pytest.raises(ServerStartError, match="already in use"):
        start_server(root=tmp_path / "s", port=mlflow_server.port)
    assert free_port() != mlflow_server.port
