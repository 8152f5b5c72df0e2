"""Host names: the URL ``ml server`` prints for the team works, and a refused one is explained.

MLflow's server answers 403 "Invalid Host header" to any Host but localhost and private
IPs (DNS-rebinding protection). ``ml server --host 0.0.0.0`` tells the team to use
``http://<this machine's name>:PORT``, so it adds the machine's names; ``--allowed-hosts``
adds more (a DNS alias, an ingress). A client whose URL names a refused host gets one line
that says so and how to fix it, not "permission denied".
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mltrack.teamserver import TeamServer, TeamServerConfig, start_team_server
from tests._helpers import ml_in_process, status_for_host

ML = [sys.executable, "-m", "mltrack"]


def test_listening_on_all_interfaces_accepts_this_machines_names() -> None:
    names = TeamServerConfig(host="0.0.0.0", allowed_hosts=("mlflow.acme.internal",)).host_names()
    assert names[:2] == ["mlflow.acme.internal", "mlflow.acme.internal:*"]
    assert socket.gethostname() in names and f"{socket.gethostname()}:*" in names
    assert TeamServerConfig(host="127.0.0.1").host_names() == []
    assert TeamServerConfig(host="10.0.0.7").host_names() == ["10.0.0.7", "10.0.0.7:*"]
    assert TeamServerConfig(allowed_hosts=("mlflow:8080",)).host_names() == ["mlflow:8080"]
    described = TeamServerConfig(host="0.0.0.0").describe()["hosts"]
    assert socket.gethostname() in described and "--allowed-hosts" in described
    assert "hosts" not in TeamServerConfig().describe()


def test_a_url_as_allowed_host_is_a_one_line_error(tmp_path: Path) -> None:
    done = ml_in_process(
        "server",
        "--allowed-hosts",
        "mlflow.acme.internal,http://mlflow.acme.internal",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--allowed-hosts 'http://mlflow.acme.internal' is not a host name" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """A server listening on all interfaces, with one extra name allowed."""
    root = tmp_path_factory.mktemp("hosts")
    server = start_team_server(
        TeamServerConfig(
            backend=f"sqlite:///{root}/mlflow.db",
            artifacts=str(root / "artifacts"),
            host="0.0.0.0",
            allowed_hosts=("mlflow.acme.internal",),
            port=0,
            workers=1,
            state_dir=root / "state",
        )
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_exposed_server_accepts_its_names_and_refuses_others(exposed: TeamServer) -> None:
    port = exposed.config.port
    for accepted in (
        socket.gethostname(),
        f"{socket.gethostname()}:{port}",  # the URL `ml server` prints
        f"mlflow.acme.internal:{port}",
        f"localhost:{port}",
        f"10.1.2.3:{port}",
    ):
        assert status_for_host(exposed.config.port, accepted) == 200, accepted
    assert status_for_host(exposed.config.port, f"evil.example.com:{port}") == 403


@pytest.mark.slow
def test_refused_host_name_is_explained_to_the_client(exposed: TeamServer) -> None:
    # 127.0.0.3 reaches the server (all of 127/8 is this machine) but is no name it accepts.
    url = f"http://127.0.0.3:{exposed.config.port}"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "300", "MLFLOW_TRACKING_URI": url}
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        env.pop(key, None)
    fix = "start the server with `ml server --allowed-hosts 127.0.0.3`"
    # `ml runs` as a person runs it; `ml server --check` in-process (the same boundary).
    for args in (["server", "--check", url], ["runs"]):
        if args[0] == "runs":
            done = subprocess.run(
                [*ML, *args], capture_output=True, text=True, timeout=120, env=env
            )
        else:
            done = ml_in_process(*args, env=env, drop_env=("MLFLOW_TRACKING_",))
        assert done.returncode == 2, done.stdout + done.stderr
        assert "refused the host name '127.0.0.3' in its URL (403 Invalid Host header" in (
            done.stderr
        ), done.stderr
        assert fix in done.stderr and "PERMISSION_DENIED" not in done.stderr
        assert "Traceback" not in done.stderr
