"""Local target: the model server on this machine (``ml ship NAME --local``).

:func:`serve` runs it in the foreground under uvicorn; :func:`start_local` runs it in a
background process (examples, tests, benchmarks) and returns a handle that stops it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrack._forkserver import fork_main
from mltrack._process import can_fork, owned_tempdir, owner_env
from mltrack.deploy import ShipOptions, ShipResult
from mltrack.errors import ServerStartError
from mltrack.localserver import ServerProcess, free_port, wait_healthy
from mltrack.serve.app import TOKEN_ENV
from mltrack.serve.model import ModelRef

__all__ = ["TARGET", "LocalServer", "LocalTarget", "start_local"]


@dataclass
class LocalServer:
    """A model server running in a background process group.

    Attributes:
        url: base URL, e.g. ``http://127.0.0.1:8080``.
        token: the bearer token, or ``None`` without auth.
        process: the server process (leader of its own group).
        startup_s: seconds from launch to ``/ready`` answering 200.
    """

    url: str
    token: str | None
    process: ServerProcess
    log_path: Path
    startup_s: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header to send (empty without auth)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self) -> None:
        """Stop the process group (graceful, then forced) and remove the log directory."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local(
    model: str | ModelRef,
    *,
    port: int | None = None,
    auth: bool = True,
    token: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> LocalServer:
    """Start ``python -m mltrack.serve`` on 127.0.0.1 in the background, wait until ready.

    On Linux the server is a fork of this process (see :mod:`mltrack._forkserver`): the
    modules imported here are not imported again, which saves seconds per start.
    ``MLTRACK_SERVER_START=spawn`` (and other platforms) start a new interpreter instead.
    Either way it leads its own process group and ends with this process.

    Args:
        model: anything :func:`mltrack.serve.resolve_model` accepts.
        port: TCP port; a free one when omitted.
        auth: require a bearer token.
        token: the token; generated when auth is on and none is given.
        env: extra environment variables for the server (e.g. ``MLTRACK_SERVE__...``).
        timeout: seconds to wait for ``/ready``.

    Raises:
        ServerStartError: the server exited or did not become ready; includes its log tail.
    """
    uri = model.uri if isinstance(model, ModelRef) else model
    port = port or free_port()
    token = (token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(32)) if auth else None
    log_dir = owned_tempdir("mltrack-serve-")
    # owner_env: the server ends with this process, even when it is killed outright, and
    # then removes the log dir (this process removes it in LocalServer.stop).
    child_env = {
        **os.environ,
        **(env or {}),
        "PYTHONWARNINGS": "ignore",
        **owner_env(owned=[log_dir]),
    }
    if "MLFLOW_TRACKING_URI" not in child_env and "mlflow" in sys.modules:
        # The server must see the store this process uses, also one set in code.
        child_env["MLFLOW_TRACKING_URI"] = sys.modules["mlflow"].get_tracking_uri()
    if token:
        child_env[TOKEN_ENV] = token
    args = [uri, "--host", "127.0.0.1", "--port", str(port)]
    if not auth:
        args.append("--no-auth")
    log_path = log_dir / "server.log"
    try:
        proc = _start_process(args, child_env, log_path)
    except BaseException:
        shutil.rmtree(log_dir, ignore_errors=True)  # e.g. a bad MLTRACK_SERVER_START
        raise
    server = LocalServer(f"http://127.0.0.1:{port}", token, proc, log_path)
    try:
        server.startup_s = wait_healthy(server.url, timeout=timeout, proc=proc, path="/ready")
    except BaseException as exc:
        tail = log_path.read_text(errors="replace")[-1500:] if log_path.exists() else ""
        server.stop()
        if isinstance(exc, ServerStartError):
            raise ServerStartError(f"model server did not start: {exc}\n{tail}") from None
        raise
    return server


def _start_process(args: list[str], child_env: dict[str, str], log_path: Path) -> ServerProcess:
    """``python -m mltrack.serve ARGS``: a fork of this process where it can, else spawned."""
    with open(log_path, "wb") as log:
        if can_fork():
            from mltrack.serve.__main__ import main as serve_main

            # A fork of this process: MLflow, pandas and the model's library are already
            # imported here (a fresh interpreter spends seconds on them).
            return fork_main(
                serve_main, args, env=child_env, stdout_fd=log.fileno(), name=b"mltrack-serve"
            )
        return subprocess.Popen(
            [sys.executable, "-m", "mltrack.serve", *args],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def serve(ref: ModelRef, options: ShipOptions, token: str | None = None) -> None:
    """Run the model server in the foreground until Ctrl-C (graceful shutdown)."""
    import uvicorn

    from mltrack.config import load_settings
    from mltrack.serve.app import create_app

    conf = load_settings().serve
    app = create_app(ref, conf, auth=options.auth, token=token)
    uvicorn.run(
        app,
        host=options.host or conf.host,
        port=options.port or conf.port,
        log_level="warning",
        timeout_graceful_shutdown=30,
    )


class LocalTarget:
    """Serve on this machine; ``deploy`` blocks while the server runs."""

    name = "local"

    def build(self, ref: ModelRef, output_dir: Path, options: ShipOptions) -> ShipResult:
        from mltrack.config import load_settings

        conf = load_settings().serve
        host, port = options.host or conf.host, options.port or conf.port
        command = f"ml ship {ref.uri} --local --host {host} --port {port}"
        return ShipResult(self.name, ref, None, [], [command], url=f"http://{host}:{port}")

    def deploy(self, result: ShipResult, options: ShipOptions, **kwargs: Any) -> ShipResult:
        serve(result.model, options, token=kwargs.get("token"))
        result.deployed = True
        return result


TARGET = LocalTarget()
