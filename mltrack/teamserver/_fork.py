"""The team server's processes as forks of the caller, where the platform allows.

A fresh interpreter spends seconds of CPU importing MLflow's server stack (SQLAlchemy
stores, Flask, FastAPI, the gateway schemas) before it does anything; the prepare step,
the server and each of its workers used to be one. On Linux (:func:`~mltrack._process.can_fork`) they are
forks instead: the caller imports the *environment-independent* part of that stack once
(:data:`mltrack._forkserver.SERVER_STACK_MODULES`), then

* the prepare and migrate steps run their functions in a forked child
  (:func:`run_forked`: own environment, captured stdout/stderr, exit status, timeout);
* a one-worker server is a forked child that runs uvicorn in-process
  (:func:`fork_server`). Several workers are still uvicorn's supervisor with spawned
  workers, in fresh interpreters: forked workers once hung under load in CI (the eight
  writers of tests/team/test_team_load.py), cause not found, so they were taken out.

``mlflow.server`` and everything under it read the server's environment when imported
(the stores' URIs, the allowed Host names, the auth config path): the caller never
imports them for a fork, and a caller that has imported them already (another server
in the same process, say) gets the fresh-interpreter path instead, which also remains
for other platforms and ``MLTRACK_SERVER_START=spawn``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable

from mltrack._forkserver import SERVER_STACK_MODULES, fork_main
from mltrack._process import (
    ForkedChild,
    can_fork,
    drop_inherited_connections,
    fork_call,
    run_main,
)

#: Packages that read the server's environment when imported: a fork must import them itself.
ENV_DEPENDENT = ("mlflow.server",)
#: uvicorn's exit status for a server that could not start (``uvicorn.config.STARTUP_FAILURE``).
_STARTUP_FAILURE = 3


def env_dependent_imported() -> list[str]:
    """The modules of :data:`ENV_DEPENDENT` this process has imported (none: a fork is clean)."""
    return [
        name
        for name in sys.modules
        if any(name == top or name.startswith(top + ".") for top in ENV_DEPENDENT)
    ]


def preimport(modules: tuple[str, ...] = SERVER_STACK_MODULES) -> None:
    """Import ``modules`` in this process, quietly (missing ones are skipped)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. starlette.middleware.wsgi's deprecation
        for name in modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)


def server_fork_ready() -> bool:
    """Whether the server may be forked from here; imports the server stack first if so."""
    if not can_fork() or env_dependent_imported():
        return False
    preimport()
    return not env_dependent_imported()  # a pre-import that pulled one in: spawn instead


# -- a function in a forked child, like subprocess.run ------------------------------------


def run_forked(
    func: Callable[[], object],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    name: bytes = b"mltrack",
) -> subprocess.CompletedProcess[str]:
    """Run ``func()`` in a fork of this process, as ``subprocess.run`` runs a program.

    The child leads a new session, runs with exactly ``env`` as its environment and
    ``cwd`` as its directory, reads /dev/null, and ends with this process (even a SIGKILL
    of it). Its exit status is 0 when ``func`` returns, the code of a ``SystemExit``, 1
    after another exception (the traceback on its stderr).

    Returns:
        The exit status and the child's stdout and stderr, decoded.

    Raises:
        subprocess.TimeoutExpired: it ran longer than ``timeout`` seconds (it is killed).
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    parent = os.getpid()

    def body() -> int:
        drop_inherited_connections()  # the caller's pooled connections are not ours
        return run_main(lambda: _none(func()))

    try:
        child = fork_call(
            body, name=name, env=env, stdio=(None, out_w, err_w), cwd=str(cwd) if cwd else None
        )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    try:
        out, err = _read_until_exit(child, out_r, err_r, timeout)
    except BaseException:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            child.wait(timeout=10)
        raise
    finally:
        os.close(out_r)
        os.close(err_r)
    return subprocess.CompletedProcess(
        [f"<fork of {parent}: {getattr(func, '__qualname__', func)!s}>"],
        child.wait(),
        out.decode(errors="replace"),
        err.decode(errors="replace"),
    )


def _none(_result: object) -> None:
    return None


def _read_until_exit(
    child: ForkedChild, out_r: int, err_r: int, timeout: float | None
) -> tuple[bytes, bytes]:
    """Both pipes to their end (the child and whatever it left running closed them)."""
    import selectors

    deadline = None if timeout is None else time.monotonic() + timeout
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"forked child {child.pid}", timeout or 0.0)
            for key, _ in selector.select(left):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    child.wait(timeout=left)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r])


# -- the server ----------------------------------------------------------------------------


def fork_server(app: str, host: str, port: int, env: dict[str, str], state_dir: str) -> ForkedChild:
    """Fork a one-worker server: uvicorn on ``app`` (``module:factory``), logs in ``server.log``.

    Several workers are spawned instead (see the module's docstring). The child leads
    its own session and process group, runs with exactly ``env``, and ends with its group
    within about a second of this process's death, even a SIGKILL of it.

    Args:
        app: the ASGI app factory (:data:`mltrack.serverapp.PLAIN_APP` or ``AUTH_APP``).
        host: bind address.
        port: TCP port.
        env: the server's whole environment.
        state_dir: its working directory, holding ``server.log``.
    """
    log_fd = os.open(
        os.path.join(state_dir, "server.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
    )
    try:
        return fork_main(
            lambda _argv: _serve(app, host, port),
            [],
            env=env,
            stdout_fd=log_fd,
            name=b"mltrack-server",
            cwd=state_dir,
        )
    finally:
        os.close(log_fd)


def _serve(app: str, host: str, port: int) -> int:
    """The forked server's body: what ``python -m uvicorn ... --factory APP`` does."""
    import uvicorn

    warnings.simplefilter("ignore")  # as PYTHONWARNINGS=ignore does for a spawned one
    config = uvicorn.Config(app, host=host, port=port, workers=1, log_level="warning", factory=True)
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else _STARTUP_FAILURE
