"""The throwaway server starter used by tests, docs and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from mltrack.errors import ServerStartError
from mltrack.localserver import (
    ForkedProcess,
    ThrowawayServer,
    free_port,
    start_server,
    throwaway_server,
)
from tests._helpers import http_call, running


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


@pytest.mark.slow
def test_forked_server_releases_the_parents_listening_sockets(tmp_path: Path) -> None:
    """The fork must not keep a socket the caller owns open (its port would stay taken)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = start_server(root=tmp_path / "srv")
    try:
        assert isinstance(server.process, ForkedProcess)
        comm = Path(f"/proc/{server.process.pid}/comm").read_text().strip()
        assert comm == "mltrack-mlflow"  # not the caller's name in `ps`/`top`
        listener.close()
        again = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        again.bind(("127.0.0.1", port))  # EADDRINUSE if the server still held it
        again.listen()
        again.close()
        with urllib.request.urlopen(server.url + "/health") as resp:
            assert resp.status == 200
    finally:
        server.stop()


@pytest.mark.slow
def test_forked_server_dies_with_a_parent_killed_outright(tmp_path: Path) -> None:
    code = (
        "import os, sys, time\n"
        "from mltrack.localserver import start_server\n"
        "server = start_server(root=sys.argv[1])\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "srv")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert running(server_pid)
        parent.kill()  # SIGKILL: no finalizer of the parent runs
        parent.wait(timeout=10)
        deadline = time.monotonic() + 20
        while running(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(server_pid), "the forked server outlived its killed parent"
    finally:
        parent.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server_pid, signal.SIGKILL)


@pytest.mark.slow
def test_spawn_start_method_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_SERVER_START", "spawn")
    with throwaway_server() as server:
        assert isinstance(server.process, subprocess.Popen)
        with urllib.request.urlopen(server.url + "/health") as resp:
            assert resp.status == 200
    assert not server.root.exists()


def test_unknown_start_method_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLTRACK_SERVER_START", "thread")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tempfile.tempdir = None  # re-read TMPDIR
    try:
        with pytest.raises(ServerStartError, match="START='thread'.*'fork' or 'spawn'"):
            start_server()
    finally:
        tempfile.tempdir = None
    assert list(tmp_path.iterdir()) == []  # no temp dir left behind


def test_free_port_draws_from_this_process_slice() -> None:
    """Two processes that pick a port and bind it later do not pick the same one."""
    import subprocess
    import sys

    from mltrack._process import _PORT_HIGH, _PORT_LOW, _PORT_SLICES, free_port

    size = (_PORT_HIGH - _PORT_LOW) // _PORT_SLICES

    def slice_of(port: int) -> int:
        return (port - _PORT_LOW) // size

    ports = [free_port() for _ in range(5)]
    assert len(set(ports)) == 5  # not handed out twice in a row
    assert {slice_of(p) for p in ports} == {os.getpid() % _PORT_SLICES}
    child = subprocess.run(
        [sys.executable, "-c", "import os; from mltrack._process import free_port; "
         "print(os.getpid(), free_port())"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    pid, port = map(int, child.stdout.split())
    assert slice_of(port) == pid % _PORT_SLICES


@pytest.mark.parametrize(("how", "expected"), [("exit", 7), ("signal", -signal.SIGTERM)])
def test_waiting_on_a_forked_child_blocks_until_it_ends(how: str, expected: int) -> None:
    from mltrack._process import ForkedChild, fork_child

    pid = fork_child()
    if pid == 0:  # the child: end one way or the other, never run pytest's code
        time.sleep(0.3)
        if how == "signal":
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler the worker set
            os.kill(os.getpid(), signal.SIGTERM)
        os._exit(7)
    child = ForkedChild(pid)
    started = time.monotonic()
    assert child.wait() == expected
    assert time.monotonic() - started >= 0.25, "returned before the child ended"
    assert child.poll() == expected and child.wait(timeout=1) == expected


def test_a_throwaway_store_skips_fsync_and_only_it(tmp_path: Path) -> None:
    """The throwaway server's SQLite connections skip fsync (it keeps nothing); a process
    that did not ask for it, such as a team server, keeps SQLite's default (FULL, 2)."""
    code = (
        "import sys, sqlalchemy\n"
        "from mltrack.serverapp import sqlite_without_fsync\n"
        "if sys.argv[1] == 'throwaway':\n"
        "    sqlite_without_fsync()\n"
        "    sqlite_without_fsync()  # once is enough; twice changes nothing\n"
        "engine = sqlalchemy.create_engine(f'sqlite:///{sys.argv[2]}')\n"
        "with engine.connect() as c:\n"
        "    print(c.exec_driver_sql('PRAGMA synchronous').scalar())\n"
    )
    for kind, expected in (("throwaway", "0"), ("team", "2")):
        done = subprocess.run(
            [sys.executable, "-c", code, kind, str(tmp_path / f"{kind}.db")],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == expected, (kind, done.stdout, done.stderr)


def test_flask_routes_skip_fastapi_and_keep_mlflows_checks(
    mlflow_server: ThrowawayServer,
) -> None:
    """The throwaway app sends the calls MLflow's Flask app answers past the FastAPI layer
    (``FlaskRoutesDirect``): they still get MLflow's Host check, cross-origin block and
    security headers (Flask's own), and FastAPI's routes are still FastAPI's."""
    port = mlflow_server.port
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    status, headers, _ = http_call(port, "GET", search)
    assert status == 200 and headers["x-content-type-options"] == "nosniff"
    # DNS rebinding: another name in Host is refused, on Flask's routes and FastAPI's.
    artifact = "/api/2.0/mlflow-artifacts/artifacts/direct/note.txt"
    for path in (search, artifact):
        assert http_call(port, "GET", path, Host="attacker.example:80")[0] == 403, path
    # A state-changing call from another origin is blocked; the same call without one works.
    create = "/api/2.0/mlflow/experiments/create"
    body = json.dumps({"name": f"direct-{uuid.uuid4().hex[:8]}"}).encode()
    json_type = {"Content-Type": "application/json"}
    assert (
        http_call(port, "POST", create, body, Origin="http://attacker.example", **json_type)[0]
        == 403
    )
    status, _, created = http_call(port, "POST", create, body, **json_type)
    assert status == 200 and json.loads(created)["experiment_id"]
    # FastAPI's own routes (the artifact upload and download) still answer.
    assert http_call(port, "PUT", artifact, b"kept")[0] == 200
    assert http_call(port, "GET", artifact)[2] == b"kept"


def test_throwaway_app_wraps_mlflows_app_only_when_flask_checks_itself() -> None:
    """The shortcut is taken in a server process (MLflow installed its checks on the Flask
    app); where MLflow did not (imported outside a server), the whole app serves."""
    code = (
        "import sys\n"
        "if sys.argv[1] == 'server':\n"
        "    import uvicorn  # what a server process has imported: MLflow checks Flask calls\n"
        "from mltrack.serverapp import throwaway_app\n"
        "print(type(throwaway_app().app).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    for kind, expected in (("server", "FlaskRoutesDirect"), ("library", "FastAPI")):
        done = subprocess.run(
            [sys.executable, "-c", code, kind], capture_output=True, text=True, env=env
        )
        assert done.stdout.strip().splitlines()[-1:] == [expected], (kind, done.stderr[-2000:])


_CELL = """
import time, urllib.request
from mltrack.localserver import start_server
started = time.perf_counter()
with start_server() as server:
    with urllib.request.urlopen(server.url + "/health", timeout=10) as resp:
        print("answered", resp.status, type(server.process).__name__, server.process.pid)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")
def test_a_jupyter_cell_gets_a_forked_server_that_it_stops() -> None:
    """A cell runs inside the kernel's event loop: the server is still a fork (from a
    helper thread), not a new interpreter that imports MLflow again."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        msg_id = client.execute(_CELL)
        output, errors = "", []
        while True:
            msg = client.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                output += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                errors.append(msg["content"]["evalue"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert not errors, errors
    answered, status, kind, pid = output.split()
    assert (answered, status) == ("answered", "200"), output
    assert kind == "ForkedChild", f"a fork of the kernel, not {kind}"
    assert not running(int(pid)), "the context manager stopped it"
