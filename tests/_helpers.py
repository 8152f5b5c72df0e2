"""Helpers shared by test modules (import as ``from tests._helpers import ...``)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: ``python -m pytest`` for a session a test starts in a project of its own, where the
#: addopts of ours (pyproject.toml) do not apply: without these, plugins it does not use
#: cost seconds of imports in that session and in each of its xdist workers.
PYTEST_IN_A_TEST = (
    sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
    "-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:anyio",
)  # fmt: skip


def run_ml(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``ml`` entry point (``python -m mltrack``) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=180,
    )


def ml_in_process(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    drop_env: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``ml ARGS`` in this process, through the app's own entry point and error boundary.

    What a subprocess would see, without its start-up (``import mlflow`` alone costs
    seconds): its own environment (``os.environ`` without variables starting with one of
    ``drop_env``, plus ``env``), working directory, stdout/stderr captured as text, and the
    exit status — an uncaught exception prints its traceback on stderr and exits 1, as
    Python does. Everything is restored afterwards: the environment, the directory, a
    tracking URI the command set in code, the consoles, signal handlers (``ml server``
    sets one for SIGTERM). Output goes to 200-column (``env``'s ``COLUMNS`` if it has one),
    colourless consoles (what ``COLUMNS=200 NO_COLOR=1`` gives a subprocess).

    A handler that captured the real ``sys.stderr`` before (MLflow's logger) still writes
    there: checks that nothing else reaches stderr belong in a subprocess test.
    """
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from mltrack.cli import _app, app

    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    saved_uri = tracking_utils._tracking_uri
    saved_defaults = set(_app._added_defaults)
    saved_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Private attributes: the public getters return resolved values (sys.stdout, the
    # terminal's width) where the consoles hold "decide at each write" (None).
    consoles = [(c, c._file, c._width, c._color_system) for c in (_app.console, _app.err_console)]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        for key in [k for k in os.environ if k.startswith(drop_env)] if drop_env else []:
            del os.environ[key]
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        width = int(env["COLUMNS"]) if env and "COLUMNS" in env else 200
        for console, buffer in ((_app.console, out), (_app.err_console, err)):
            console.file, console.width = buffer, width
            console._color_system = None  # no ANSI codes, as in a pipe
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                app(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, int | None):
                    print(exc.code, file=sys.stderr)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        for console, file, width, colors in consoles:
            console._file, console._width, console._color_system = file, width, colors
        os.chdir(saved_cwd)
        mlflow.set_tracking_uri(saved_uri)  # before the environment: MLflow exports it there
        os.environ.clear()
        os.environ.update(saved_env)
        _app._added_defaults.clear()
        _app._added_defaults.update(saved_defaults)
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
    return subprocess.CompletedProcess(["ml", *args], code, out.getvalue(), err.getvalue())


def notebook_json(*cells: str, kernel: str = "python3", **livedocs: Any) -> str:
    """An ``.ipynb`` document of code cells ``cells`` (no outputs) for ``kernel``.

    Keyword arguments become the notebook's ``livedocs`` metadata (``timeout=5``).
    """
    metadata: dict[str, Any] = {
        "kernelspec": {"name": kernel, "display_name": "Python 3", "language": "python"}
    }
    if livedocs:
        metadata["livedocs"] = livedocs
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"c{i}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for i, source in enumerate(cells, start=1)
            ],
            "metadata": metadata,
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def start_ml(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``ml`` (``python -m mltrack``) in its own session, stdout and stderr piped as one.

    It runs under a keeper (:func:`mltrack._process.keeper_command`) that ends the
    session when this process dies, even by SIGKILL. The keeper ignores signals sent to
    it alone: signal the group (``os.killpg(proc.pid, sig)``), as a terminal does.
    """
    from mltrack._process import keeper_command

    return subprocess.Popen(
        keeper_command([sys.executable, "-m", "mltrack", *args]),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def http_call(
    port: int, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:``port`` with exactly these headers (``Host`` included,
    which urllib would set from the URL): status, headers (lower-case names), body."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def status_for_host(port: int, host: str, auth: str | None = None) -> int:
    """HTTP status of an API read on 127.0.0.1:``port`` sent with ``Host: host``.

    The URL's host name travels in that header: this is what a client whose URL names
    ``host`` gets from MLflow's Host check. ``auth`` is ``"user:password"`` for basic auth.
    """
    import base64

    headers = {"Host": host}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return http_call(port, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", **headers)[0]


def files_containing(root: Path, needle: bytes) -> list[str]:
    """The files under ``root`` whose bytes contain ``needle`` (a secret that must not be
    in a built site, a cache or a spool)."""
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@contextlib.contextmanager
def tracking_to(url: str) -> Iterator[None]:
    """MLflow calls of this process, and the processes it starts, go to ``url`` meanwhile."""
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = url
    mlflow.set_tracking_uri(url)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections for as long as the block runs.

    A port that is merely free now can be taken by another test's server a moment later
    (CI once found a live tracking server on "nowhere"); a bound socket that never listens
    holds the port and answers every connect with a refusal.
    """
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# -- processes, read from /proc (Linux) ---------------------------------------------------------

#: Fields of /proc/PID/stat after the command name: the ones the tests compare.
STATE, PPID, PGRP = 0, 1, 2
#: States of a process that has ended (a zombie waits only for its parent's wait).
_ENDED = ("Z", "X")


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None once it is gone.

    The command name is cut at its last ``)``: it may hold spaces and parentheses.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has ended; only its parent's wait is due)."""
    stat = proc_stat(pid)
    return stat is not None and stat[STATE] not in _ENDED


def wait_until(condition: Callable[[], bool], seconds: float, poll_s: float = 0.05) -> bool:
    """Whether ``condition()`` holds within ``seconds`` (checked every ``poll_s``)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


def processes_where(field: int, value: int) -> list[int]:
    """Running processes whose stat ``field`` (``PPID``, ``PGRP``) equals ``value``, sorted."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None and int(stat[field]) == value and stat[STATE] not in _ENDED:
                found.append(int(entry))
    return sorted(found)


def descendants(root_pid: int) -> set[int]:
    """Every process below ``root_pid``, zombies included (follow /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None:
                children.setdefault(int(stat[PPID]), []).append(int(entry))
    found, todo = set(), [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
