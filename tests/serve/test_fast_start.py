"""Servers and commands started from examples start as forks, and never outlive their owner.

Real processes throughout: a real model server (uvicorn) on 127.0.0.1 forked by
``start_local``, a real fork server that ``python -m mltrack`` hands its command to, and
owners killed with SIGINT, SIGTERM and SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mltrack._forkserver import FORKSERVER_ENV, ForkServer, start_forkserver
from mltrack._process import free_port, owner_env
from mltrack.deploy.local import start_local
from mltrack.localserver import ForkedProcess, ThrowawayServer
from tests._helpers import PPID, proc_stat, processes_where, running, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")


def _gone_within(pid: int, seconds: float) -> bool:
    return wait_until(lambda: not running(pid), seconds)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


# -- start_local: a fork of the caller -------------------------------------------------------


def test_start_local_forks_a_server_in_its_own_group(served_models, mlflow_server) -> None:
    with start_local(served_models.table, auth=False) as server:
        assert isinstance(server.process, ForkedProcess), "Linux: a fork, not a new interpreter"
        pid = server.process.pid
        assert os.getpgid(pid) == pid and os.getsid(pid) == pid, "own session and group"
        assert _answers(server.url + "/ready")
        with urllib.request.urlopen(server.url + "/metadata", timeout=5) as resp:
            assert served_models.table in resp.read().decode()
    assert _gone_within(pid, 5), "stop() ends the forked server"
    assert not server.log_path.parent.exists(), "its log directory is removed"


def test_start_local_spawn_fallback_serves_the_same(
    served_models, mlflow_server, monkeypatch
) -> None:
    monkeypatch.setenv("MLTRACK_SERVER_START", "spawn")
    with start_local(served_models.table, auth=False) as server:
        assert isinstance(server.process, subprocess.Popen)
        assert _answers(server.url + "/ready")


def test_start_local_bad_model_fails_with_the_servers_message(mlflow_server) -> None:
    from mltrack.errors import ServerStartError

    with pytest.raises(ServerStartError, match="model server did not start") as info:
        start_local("no-such-model-fast-start", auth=False, timeout=60)
    assert "no-such-model-fast-start" in str(info.value), "the child's error line is shown"


def test_start_local_bad_start_method_names_it_and_leaves_no_log_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from mltrack.errors import ServerStartError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("MLTRACK_SERVER_START", "threads")
    with pytest.raises(ServerStartError, match="MLTRACK_SERVER_START='threads'"):
        start_local("any-model", auth=False)
    assert list(tmp_path.iterdir()) == [], "its log dir is removed again"


_OWNER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from mltrack._process import exit_with_parent_from_env
    from mltrack.deploy.local import start_local
    exit_with_parent_from_env()  # a SIGKILLed pytest takes it (and its server) along

    def start():
        server = start_local(sys.argv[1], auth=False)
        print(server.process.pid, server.url, server.log_path.parent, flush=True)
        return server

    async def in_a_loop():  # a Jupyter cell's case: forked from a helper thread
        with start():
            await asyncio.sleep(300)

    if sys.argv[2] == "loop":
        asyncio.run(in_a_loop())
    else:
        with start():
            time.sleep(300)
    """
)


def _stops_answering(url: str, seconds: float) -> bool:
    return wait_until(lambda: not _answers(url), seconds, poll_s=0.1)


@pytest.mark.parametrize(
    ("start", "sig"),
    [
        ("fork", signal.SIGINT),
        ("fork", signal.SIGTERM),
        ("fork", signal.SIGKILL),
        ("spawn", signal.SIGKILL),
        ("loop", signal.SIGKILL),
    ],
)
def test_model_server_and_its_log_dir_end_with_their_owner(
    served_models, mlflow_server: ThrowawayServer, start, sig
) -> None:
    """However the server started (a fork of the owner, of its helper thread when it runs
    an event loop, a new interpreter), an owner's end takes the server and its log dir
    along, even a SIGKILL."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server.url, **owner_env()}
    if start == "spawn":
        env["MLTRACK_SERVER_START"] = "spawn"
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, served_models.table, start],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert owner.stdout is not None
        pid_text, url, log_dir = owner.stdout.readline().split()
        pid = int(pid_text)
        assert _answers(url + "/ready")
        assert Path(log_dir).is_dir()
        os.kill(owner.pid, sig)
        owner.wait(timeout=30)
        assert _gone_within(pid, 5), f"model server {pid} outlived its owner ({sig!r})"
        assert _stops_answering(url + "/ready", 5), f"the server still answers ({sig!r})"
        assert not Path(log_dir).exists(), f"its log dir outlived its owner ({sig!r})"
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()


# -- the fork server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forkserver() -> Iterator[ForkServer]:
    server = start_forkserver(modules=("mlflow", "mltrack.serve.app", "uvicorn"))
    assert server is not None
    yield server
    server.stop()
    assert _gone_within(server.process.pid, 5)


def test_start_local_under_an_event_loop_forks_from_a_helper_thread(
    served_models, mlflow_server: ThrowawayServer
) -> None:
    """A thread with an event loop (a Jupyter cell, the docs build's screenshots under
    Playwright) is forked from a helper thread: the model server is a fork of this
    process, not a new interpreter, and it runs its own event loop."""
    import asyncio

    seen: dict[str, object] = {}

    async def shoot() -> None:
        with start_local(served_models.table, auth=False) as server:
            seen["process"] = server.process
            seen["ready"] = _answers(server.url + "/ready")
            stat = proc_stat(server.process.pid)
            seen["ppid"] = int(stat[PPID]) if stat else None

    asyncio.run(shoot())
    process = seen["process"]
    assert isinstance(process, ForkedProcess), f"a fork, not {type(process).__name__}"
    assert seen["ready"] is True
    assert seen["ppid"] == os.getpid(), "a child of this process"
    assert _gone_within(process.pid, 5), "stop() ends it"


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, cwd=cwd, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "args",
    [
        ["mltrack", "--version"],
        ["mltrack", "ship", "some-model", "--local", "--to", "docker"],
        ["mltrack", "no-such-command"],
        ["mltrack.serve", "./no-such-model-dir", "--no-auth"],
    ],
)
def test_forked_command_prints_and_exits_like_a_plain_one(
    forkserver: ForkServer, tmp_path: Path, args: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != FORKSERVER_ENV}
    plain = _run(args, env, tmp_path)
    forked = _run(args, {**env, **forkserver.env}, tmp_path)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )


def test_forked_command_uses_the_clients_cwd_and_env(
    forkserver: ForkServer, served_models, mlflow_server: ThrowawayServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != FORKSERVER_ENV}
    env["MLFLOW_TRACKING_URI"] = mlflow_server.url  # the model exists only there
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # its rates differ run to run
    args = ["mltrack", "ship", served_models.table, "--to", "docker", "--dry-run", "-o", "out"]
    plain_dir, forked_dir = tmp_path / "aaaa", tmp_path / "bbbb"  # same length: same wrapping
    plain_dir.mkdir()
    forked_dir.mkdir()
    plain = _run(args, env, plain_dir)
    forked = _run(args, {**env, **forkserver.env}, forked_dir)
    assert forked.returncode == 0, forked.stderr
    assert (
        forked.returncode,
        forked.stdout.replace(str(forked_dir), str(plain_dir)),
        forked.stderr,
    ) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert (forked_dir / "out" / "Dockerfile").is_file(), "written in the client's cwd"


def test_forked_command_records_the_project_files_it_used(
    forkserver: ForkServer, tmp_path: Path
) -> None:
    """In a docs build a forked `python -m mltrack ...` records its dependencies like a
    plain one (childtrace), so an example re-runs when the command's code changes;
    modules the fork server had imported count as used."""
    from mltrack.livedocs.worker_tracing import child_opens

    root = Path(__file__).resolve().parents[2]
    trace = str(root / "mltrack" / "livedocs" / "childtrace")
    recorded: dict[str, set[str]] = {}
    for how, extra in (("plain", {}), ("forked", forkserver.env)):
        target = tmp_path / how
        target.mkdir()
        env = {k: v for k, v in os.environ.items() if k != FORKSERVER_ENV}
        env.update(
            PYTHONPATH=trace,
            MLTRACK_LIVEDOCS_CHILD_OPENS=str(target),
            MLTRACK_LIVEDOCS_ROOT=str(root),
            **extra,
        )
        done = _run(["mltrack", "ship", "m", "--to", "heroku"], env, tmp_path)
        assert done.returncode == 2, done.stderr
        recorded[how] = {str(Path(p).relative_to(root)) for p in child_opens(target)}
    assert "mltrack/cli/ship.py" in recorded["plain"]
    assert recorded["plain"] - recorded["forked"] == set()
    assert "mltrack/serve/app.py" in recorded["forked"]  # imported by the fork server


def _served_by_forkserver(
    forkserver: ForkServer, served_models, mlflow_server: ThrowawayServer
) -> tuple[subprocess.Popen[bytes], str, int]:
    port = free_port()
    env = {**os.environ, **forkserver.env, "MLFLOW_TRACKING_URI": mlflow_server.url}
    client = subprocess.Popen(
        [sys.executable, "-m", "mltrack.serve", served_models.table, "--no-auth"]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not _answers(url + "/ready"):
        assert client.poll() is None, "the served model exited"
        assert time.monotonic() < deadline, "not ready within 120 s"
        time.sleep(0.1)
    children = processes_where(PPID, forkserver.process.pid)
    assert len(children) == 1, "the server runs in a fork of the fork server"
    return client, url, children[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_forked_server_ends_with_its_client(
    forkserver: ForkServer, served_models, mlflow_server: ThrowawayServer, sig: int
) -> None:
    client, url, child = _served_by_forkserver(forkserver, served_models, mlflow_server)
    try:
        os.kill(client.pid, sig)
        code = client.wait(timeout=40)
        assert _gone_within(child, 5), f"the forked server outlived its client ({sig!r})"
        assert not _answers(url + "/ready")
        # What a plain `python -m mltrack.serve` reports (measured): 143 after SIGTERM's
        # graceful shutdown, 0 after Ctrl-C's, the signal itself for SIGKILL.
        assert code == {signal.SIGTERM: 143, signal.SIGINT: 0, signal.SIGKILL: -9}[sig]
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait()


_OWNER_OF_CLIENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from mltrack._process import exit_with_parent_from_env, owner_env
    exit_with_parent_from_env()  # a SIGKILLed pytest takes it along
    client = subprocess.Popen(
        [sys.executable, "-m", "mltrack.serve", *sys.argv[1:]], env={**os.environ, **owner_env()}
    )
    print(client.pid, flush=True)
    time.sleep(300)
    """
)


def test_client_told_to_end_with_its_owner_runs_forked_and_does(
    forkserver: ForkServer, served_models, mlflow_server: ThrowawayServer
) -> None:
    # The owner variable names the client's parent; the fork's parent is the server, so
    # the client keeps the owner check for itself (it once went to the fork, which then
    # took the server for a dead owner and stopped at once).
    port = free_port()
    env = {**os.environ, **forkserver.env, "MLFLOW_TRACKING_URI": mlflow_server.url}
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_OF_CLIENT, served_models.table, "--no-auth"]
        + ["--port", str(port)],
        env={**env, **owner_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert owner.stdout is not None
        client = int(owner.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not _answers(url + "/ready"):
            assert running(client), "the client (and its forked server) ended on its own"
            assert time.monotonic() < deadline, "not ready within 120 s"
            time.sleep(0.1)
        children = processes_where(PPID, forkserver.process.pid)
        assert len(children) == 1, "the server runs in a fork of the fork server"
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        assert _gone_within(client, 10), "the client outlived its owner"
        assert _gone_within(children[0], 10), "the forked server outlived its owner"
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()


def test_forkserver_ends_with_its_owner(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from mltrack._forkserver import start_forkserver\n"
            "from mltrack._process import exit_with_parent_from_env\n"
            "exit_with_parent_from_env()\n"  # a SIGKILLed pytest takes it along
            "fs = start_forkserver(modules=())\n"
            "print(fs.process.pid, fs.socket_path, flush=True); time.sleep(300)",
        ],
        env={**os.environ, **owner_env()},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert owner.stdout is not None
    pid_text, socket_path = owner.stdout.readline().split()
    assert running(int(pid_text))
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    assert _gone_within(int(pid_text), 5), "the fork server outlived its owner"
    deadline = time.monotonic() + 5
    while Path(socket_path).parent.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(socket_path).parent.exists(), "it removed its socket directory"
    # A client whose server is gone runs the command itself.
    env = {**os.environ, FORKSERVER_ENV: socket_path}
    proc = _run(["mltrack", "--version"], env, tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("mltrack ")


def test_forkserver_env_names_its_socket_and_the_hash_seed_it_accepts() -> None:
    server = start_forkserver({**os.environ, "PYTHONHASHSEED": "7"}, modules=())
    assert server is not None
    try:
        assert server.env == {FORKSERVER_ENV: server.socket_path, "PYTHONHASHSEED": "7"}
    finally:
        server.stop()


def test_forkserver_declines_another_hash_seed(forkserver: ForkServer, tmp_path: Path) -> None:
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    env = {**os.environ, **forkserver.env, "PYTHONHASHSEED": seed}
    proc = _run(["mltrack", "--version"], env, tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("mltrack ")
    log = (Path(forkserver.socket_path).parent / "server.log").read_text()
    assert "declined" in log and "hashseed" in log, log
