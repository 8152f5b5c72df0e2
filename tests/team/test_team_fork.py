"""The team server's processes as forks (Linux) and as fresh interpreters (``spawn``).

Forked, the prepare and migrate steps, the server and each of its workers skip MLflow's
imports; the fresh-interpreter path stays for other platforms and
``MLTRACK_SERVER_START=spawn``. Both are run here against real uvicorn workers: a crashed
worker is replaced, a restart and a stop leave nothing behind, and the forks never
inherit a module imported with the caller's environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from mltrack.errors import ServerStartError
from mltrack.teamserver import TeamServerConfig, start_team_server
from mltrack.teamserver._fork import env_dependent_imported, run_forked
from mltrack.teamserver._migrate import schema_revision
from tests._helpers import PGRP, PPID, closed_port, processes_where

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def _workers(supervisor: int) -> list[int]:
    """uvicorn's workers: the supervisor's children but multiprocessing's resource tracker."""
    return [
        pid for pid in processes_where(PPID, supervisor) if "resource_tracker" not in _cmdline(pid)
    ]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "/api/2.0/mlflow/experiments/search?max_results=1") as r:
        return r.status == 200


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.1)


# -- run_forked ----------------------------------------------------------------------------


def _prints_and_exits() -> None:
    print("to stdout", os.environ.get("ONLY_THIS"), os.environ.get("HOME"), os.getcwd())
    print("to stderr", file=sys.stderr)
    sys.exit(3)


def test_run_forked_captures_output_and_status_with_only_the_given_env(tmp_path: Path) -> None:
    done = run_forked(_prints_and_exits, env={"ONLY_THIS": "yes"}, cwd=tmp_path, timeout=60)
    assert done.returncode == 3
    assert done.stdout == f"to stdout yes None {tmp_path}\n"
    assert done.stderr.strip().splitlines()[-1] == "to stderr"


def test_run_forked_reports_an_exception_and_kills_on_timeout(tmp_path: Path) -> None:
    def fails() -> None:
        raise ValueError("bad thing")

    done = run_forked(fails, env={}, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "ValueError: bad thing"

    marker = tmp_path / "pid"

    def hangs() -> None:
        marker.write_text(str(os.getpid()))
        time.sleep(120)

    started = time.monotonic()
    # 5 s for the child to start and write its pid: on a loaded 2-core CI machine 1.5 s
    # once ran out before the fork got to run it (the kill was then never checked).
    with pytest.raises(subprocess.TimeoutExpired):
        run_forked(hangs, env={}, timeout=5)
    assert time.monotonic() - started < 20
    pid = int(marker.read_text())
    _wait(lambda: _comm(pid) == "?" or not Path(f"/proc/{pid}").exists(), 10, "not killed")


# -- the server, forked and spawned --------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_one_worker_is_forked_several_are_spawned_and_nothing_outlives_a_stop(
    workers: int, tmp_path: Path
) -> None:
    server = start_team_server(
        TeamServerConfig(
            backend=f"sqlite:///{tmp_path / 'mlflow.db'}",
            artifacts=str(tmp_path / "artifacts"),
            port=0,
            workers=workers,
            state_dir=tmp_path / "state",
        )
    )
    try:
        assert _healthy(server.url)
        # The fork never imported MLflow's server modules here, with this environment.
        assert env_dependent_imported() == []
        if workers == 1:
            assert _comm(server.process.pid) == "mltrack-server", "a fork serves itself"
        else:
            # keeper -> python -m uvicorn (the supervisor) -> spawned workers: forked
            # workers once hung under load (see mltrack.teamserver._fork).
            (supervisor,) = processes_where(PPID, server.process.pid)
            assert "uvicorn" in _cmdline(supervisor)
            _wait(lambda: len(_workers(supervisor)) == 2, 60, "two workers")
            old = _workers(supervisor)
            assert all("multiprocessing" in _cmdline(pid) for pid in old)
            os.kill(old[0], signal.SIGKILL)  # uvicorn's supervisor replaces a dead worker
            _wait(
                lambda: len(_workers(supervisor)) == 2 and old[0] not in _workers(supervisor),
                60,
                "the crashed worker was not replaced",
            )
            assert _healthy(server.url)

        old_group = server.process.pid
        server.restart()
        assert _healthy(server.url)
        assert processes_where(PGRP, old_group) == [], "the restart left the old server's processes"
    finally:
        server.stop()
    assert processes_where(PGRP, server.process.pid) == []
    assert server.process.poll() is not None


def test_prepare_errors_are_one_scrubbed_line_when_forked(tmp_path: Path) -> None:
    secret = "s3cret-pw-42"
    with closed_port() as port, pytest.raises(ServerStartError) as caught:
        start_team_server(
            TeamServerConfig(
                backend=f"postgresql://team:{secret}@127.0.0.1:{port}/mlflow",
                artifacts=str(tmp_path / "artifacts"),
                port=0,
                state_dir=tmp_path / "state",
            )
        )
    message = str(caught.value)
    assert message.startswith("could not prepare postgresql+psycopg2://team:***@127.0.0.1")
    assert "OperationalError" in message and "check the --backend host" in message
    assert secret not in message and "\n" not in message


def test_a_caller_that_imported_mlflow_server_gets_fresh_interpreters(tmp_path: Path) -> None:
    """mlflow.server was imported with the caller's environment: no fork inherits it."""
    code = f"""
import mlflow.server  # the caller's: built with the caller's environment
from mltrack.teamserver import TeamServerConfig, start_team_server
server = start_team_server(TeamServerConfig(
    backend="sqlite:///{tmp_path / "mlflow.db"}", artifacts="{tmp_path / "art"}",
    port=0, workers=1, state_dir="{tmp_path / "state"}"))
try:
    print(type(server.process).__name__)
finally:
    server.stop()
"""
    env = {k: v for k, v in os.environ.items() if k != "MLTRACK_SERVER_START"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "Popen"


def test_migrate_reads_the_revision_forked_and_spawned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mltrack.localserver import template_db

    db = tmp_path / "mlflow.db"
    db.write_bytes(template_db().read_bytes())
    forked = schema_revision(f"sqlite:///{db}")
    monkeypatch.setenv("MLTRACK_SERVER_START", "spawn")
    spawned = schema_revision(f"sqlite:///{db}")
    assert forked == spawned and forked and len(forked) >= 8
    assert schema_revision(f"sqlite:///{tmp_path / 'empty.db'}") is None
