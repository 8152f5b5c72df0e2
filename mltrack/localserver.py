"""Throwaway MLflow tracking servers on the loopback interface.

Used by the test-suite fixture, the live docs engine and the benchmarks. Start-up is
made fast by three choices, measured in ``scripts/bench/server_start.py``:

* MLflow's FastAPI app is run under ``uvicorn`` directly with one worker, skipping the
  ``mlflow server`` CLI (its own import, job-runner checks and four workers), with the
  worker's request threads bounded to its connection pool (:mod:`mltrack.serverapp`);
* background job execution (huey consumers) is disabled, a throwaway server needs none;
* the sqlite schema comes from a template database migrated once per MLflow version and
  copied, instead of running every alembic migration at each start;
* on Linux the server is a fork of the calling process, so the modules the caller has
  already imported (``mlflow`` itself, ~1.5 s) are not imported a second time; only the
  server's own modules are. ``MLTRACK_SERVER_START=spawn`` (and other platforms) start a
  fresh interpreter instead.

The server runs in its own process group so that stopping it (also on Ctrl-C or
failure) never leaves an orphan behind, and its temporary directory is always removed.
The server also ends within about a second of its parent's death, even a SIGKILL of the
parent (:func:`mltrack._process.exit_with_parent`; a spawned one runs under a keeper).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

from mltrack._process import (
    ForkedChild,
    can_fork,
    fork_call,
    free_port,
    kill_group,
    owned_tempdir,
    port_is_free,
    spawn_kept,
)
from mltrack.errors import ServerStartError
from mltrack.serverapp import THROWAWAY_APP, throwaway_app, uvicorn_command

__all__ = [
    "ForkedProcess",
    "ServerProcess",
    "ThrowawayServer",
    "free_port",
    "kill_group",
    "throwaway_server",
    "wait_healthy",
]

_HEALTH_TIMEOUT_S = 90.0


class ServerProcess(Protocol):
    """What the starters need of a child process: ``subprocess.Popen`` or a forked one."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def wait_healthy(
    url: str,
    timeout: float = _HEALTH_TIMEOUT_S,
    proc: ServerProcess | None = None,
    path: str = "/health",
) -> float:
    """Poll ``url + path`` until it answers 200; return the seconds it took.

    Raises:
        ServerStartError: the process exited or the timeout passed first.
    """
    start = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(f"server process exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + path, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise ServerStartError(f"{url}{path} did not answer within {timeout:.0f} s")
        time.sleep(0.05)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mltrack"


def _server_env(db_uri: str, artifacts_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # A server inherits nothing from the client side of the caller's environment.
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(key, None)
    env.update(
        {
            "_MLFLOW_SERVER_FILE_STORE": db_uri,
            "_MLFLOW_SERVER_REGISTRY_STORE": db_uri,
            "_MLFLOW_SERVER_ARTIFACT_ROOT": "mlflow-artifacts:/",
            "_MLFLOW_SERVER_ARTIFACT_DESTINATION": str(artifacts_dir),
            "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
            "_MLFLOW_SGI_NAME": "uvicorn",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            # A throwaway server (docs builds, tests) reports nothing to MLflow's telemetry.
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def template_db() -> Path:
    """Return a migrated, empty MLflow sqlite database for this MLflow version."""
    template = _cache_dir() / f"mlflow-{version('mlflow')}-schema.db"
    if template.exists():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mltrack-schema-") as tmp:
        db = Path(tmp) / "mlflow.db"
        code = (
            "import sys\n"
            "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
            "from mlflow.store.model_registry.sqlalchemy_store import "
            "SqlAlchemyStore as RegistryStore\n"
            "uri = sys.argv[1]\n"
            "SqlAlchemyStore(uri, 'mlflow-artifacts:/')\n"
            "RegistryStore(uri)\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, f"sqlite:///{db}"],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        partial = template.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(db, partial)
        os.replace(partial, template)  # atomic: concurrent builders never see half a file
    return template


@dataclass
class ThrowawayServer:
    """A running MLflow tracking server owned by this process.

    Attributes:
        url: base URL, e.g. ``http://127.0.0.1:53011``; use it as ``MLFLOW_TRACKING_URI``.
        root: the temporary directory holding the database, artifacts and the log.
        process: the server process (leader of its own process group).
        startup_s: seconds from launch to the first healthy answer.
    """

    url: str
    root: Path
    process: ServerProcess
    startup_s: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def stop(self, remove: bool = True) -> None:
        """Stop the server's whole process group and remove its directory."""
        if self._stopped:
            return
        self._stopped = True
        kill_group(self.process)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same port and store (used by resilience tests)."""
        kill_group(self.process)
        self.process = _launch(self.root, self.port)
        self.startup_s = wait_healthy(self.url, proc=self.process)
        self._stopped = False

    def __enter__(self) -> ThrowawayServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _launch(root: Path, port: int) -> ServerProcess:
    env = _server_env(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")
    if can_fork():
        return _fork(root, port, env)
    return _spawn(root, port, env)


def _spawn(root: Path, port: int, env: dict[str, str]) -> ServerProcess:
    return spawn_kept(
        uvicorn_command("127.0.0.1", port, factory=THROWAWAY_APP),
        log=root / "server.log",
        env=env,
        cwd=root,
    )


#: A forked server (or model server: :func:`mltrack._forkserver.fork_main`).
ForkedProcess = ForkedChild


def _fork(root: Path, port: int, env: dict[str, str]) -> ServerProcess:
    log_fd = os.open(root / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # Exit status 70 and the traceback in the log when it fails, SystemExit too.
        return fork_call(
            lambda: _serve(port),
            name=b"mltrack-mlflow",
            env=env,
            stdio=(None, log_fd, log_fd),
            cwd=str(root),
        )
    finally:
        os.close(log_fd)


def _serve(port: int) -> int:
    """Body of a forked server: uvicorn on MLflow's app (the child's env names its store)."""
    import warnings

    import uvicorn

    warnings.simplefilter("ignore")
    config = uvicorn.Config(
        throwaway_app(), host="127.0.0.1", port=port, workers=1, log_level="warning"
    )
    uvicorn.Server(config).run()
    return 0


def start_server(
    root: Path | None = None, port: int | None = None, wait: bool = True
) -> ThrowawayServer:
    """Start a throwaway MLflow server and wait until it is healthy.

    Its SQLite store skips fsync (:func:`mltrack.serverapp.throwaway_app`): what it holds
    is gone with it anyway.

    Args:
        root: directory for the store; a new temporary directory when omitted
            (removed again by :meth:`ThrowawayServer.stop`).
        port: TCP port on 127.0.0.1; a free one when omitted.
        wait: wait for its health; ``False`` returns at once (a server started ahead of
            need; :func:`wait_healthy` before use).

    Returns:
        The running server. Call ``stop()`` or use it as a context manager.

    Raises:
        ServerStartError: the server did not become healthy; the log tail is included.
    """
    if port is not None and not port_is_free(port):
        raise ServerStartError(f"port {port} on 127.0.0.1 is already in use; pick another port")
    can_fork()  # a bad MLTRACK_SERVER_START fails before anything is created
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    own_root = root is None
    root = Path(root) if root else owned_tempdir("mltrack-server-")
    try:
        (root / "artifacts").mkdir(parents=True, exist_ok=True)
        db = root / "mlflow.db"
        if not db.exists():
            shutil.copyfile(template_db(), db)
        proc = _launch(root, port)
    except BaseException:
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
        raise
    server = ThrowawayServer(url=url, root=root, process=proc)
    if not wait:
        return server
    try:
        server.startup_s = wait_healthy(url, proc=proc)
    except BaseException as exc:
        tail = ""
        with contextlib.suppress(OSError):
            tail = server.log_path.read_text(errors="replace")[-2000:]
        server.stop()
        if isinstance(exc, ServerStartError):
            raise ServerStartError(f"{exc}\n--- server log ---\n{tail}") from None
        raise
    return server


@contextlib.contextmanager
def throwaway_server(root: Path | None = None) -> Iterator[ThrowawayServer]:
    """Context manager form of :func:`start_server`; always stops and cleans up."""
    server = start_server(root)
    try:
        yield server
    finally:
        server.stop()
