"""Start Python programs as forks of a process that has already imported what they need.

A fresh ``python -m mltrack ...`` or model server spends seconds importing MLflow,
pandas, scikit-learn (and, through ``skops``, sometimes torch) before it does anything.
On Linux a fork of a process that already holds those modules skips all of it. Two ways:

* :func:`fork_main` - fork *this* process and run a ``main(argv)`` function in the child
  (``mltrack.deploy.local.start_local`` runs the model server so: the caller has just
  imported MLflow and scikit-learn to train the model it serves).
* :class:`ForkServer` - a "zygote" process that pre-imports a list of modules and, for
  each client, forks a child that runs ``python -m MODULE ARGS`` with the client's
  arguments, environment, working directory and standard streams. ``python -m mltrack``
  and ``python -m mltrack.serve`` become its clients when :data:`FORKSERVER_ENV` names its
  socket (the docs build sets it for the examples it runs); :func:`run_via_forkserver`.

Either child is a real process: its own session and process group, the standard streams
given to it, the environment and cwd applied, signal handlers reset, the parent's atexit
handlers dropped (its own run at exit). It never outlives its owner: a :func:`fork_main`
child ends with its parent (:func:`mltrack._process.exit_with_parent`), a fork-server
child's group is killed when its client's connection drops (the client died, even by
SIGKILL), and the fork server itself ends with the process that started it. Anything
that cannot fork (another platform, ``MLTRACK_SERVER_START=spawn``, no fork server) falls
back to a plain new interpreter. A caller running an event loop (a Jupyter cell) forks
too: :func:`mltrack._process.fork_call` forks it from a helper thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mltrack._process import (
    SERVER_START_ENV,
    ForkedChild,
    drop_inherited_connections,
    fork_call,
    name_process,
    run_main,
)

if TYPE_CHECKING:
    import socket
    import subprocess

__all__ = [
    "FORKSERVER_ENV",
    "FORKSERVER_MODULES",
    "SERVER_STACK_MODULES",
    "ForkServer",
    "fork_main",
    "run_via_forkserver",
    "runs_mltrack",
    "start_forkserver",
]

#: Path of a fork server's Unix socket; ``python -m mltrack`` asks it to run the command.
FORKSERVER_ENV = "MLTRACK_FORKSERVER"
#: MLflow's server stack (~1 s of imports): ``ml server`` imports it before it forks its
#: prepare step and server (:mod:`mltrack.teamserver._fork`), and a fork server holds it
#: for the ``ml server`` it runs. None of it reads the server's environment when imported;
#: ``mlflow.server`` does (the stores' URIs, allowed hosts, auth config), so it stays out.
SERVER_STACK_MODULES = (
    "mlflow",
    "sqlalchemy",
    "alembic.migration",
    "flask",
    "flask_cors",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.store.db.utils",
    "mlflow.db",
    "mlflow.gateway.config",
    "mlflow.gateway.budget",
    "mlflow.webhooks.delivery",
    "fastapi",
    "starlette.middleware.wsgi",
    "uvicorn",
)
#: What a fork server imports before it forks: what ``ml`` commands and the model server
#: spend their start-up on. ``rich``/``typer`` are left out on purpose: they read the
#: environment (colours, width) when imported, and each command's environment differs.
FORKSERVER_MODULES = (  # what every command needs first; a client may come in between
    "mlflow",
    "pandas",
    "mlflow.pyfunc",
    "mltrack.registry",
    "mltrack.deploy",
    "fastapi",
    "uvicorn",
    "httpx",
    "mltrack.serve.app",
    "mltrack.serve.model",
    "sklearn",
    "mlflow.sklearn",
    # Not skops.io (MLflow's sklearn format): imported directly it imports torch, and a
    # child would take torch as imported by its program (PyTorch autologging on for `ml
    # train`). `mltrack.frameworks.preload`, run after these, imports it without.
    # `ml server`'s stack, after what every command needs (those already imported are
    # no-ops); none reads the environment when imported (see SERVER_STACK_MODULES).
    *SERVER_STACK_MODULES,
    # What commands still imported after the fork (py-spy of a docs build), none reading
    # the environment when imported: the headers of every REST call, the tracer's span
    # processors, httpx's transport, the SQL store's SQLite dialect and schema check, the
    # file store probed for the default tracking URI.
    "mlflow.tracking.request_header.registry",
    "mlflow.tracing.processor.base_mlflow",
    "httpcore",
    "sqlalchemy.dialects.sqlite",
    "alembic.config",
    "mlflow.store.tracking.file_store",
)
#: Modules a client may ask to run (``python -m NAME``).
_RUNNABLE = ("mltrack", "mltrack.serve")
#: Set in a fork server's child: its own ``python -m mltrack`` runs here, not forked again.
_in_child = False


def fork_main(
    main: Callable[[list[str]], int | None],
    argv: list[str],
    *,
    env: dict[str, str],
    stdout_fd: int,
    name: bytes = b"mltrack",
    cwd: str | None = None,
) -> ForkedChild:
    """Fork this process; the child runs ``main(argv)`` and exits with its status.

    The child leads a new session, writes stdout and stderr to ``stdout_fd`` (stdin is
    /dev/null), runs with exactly ``env`` as its environment and ends within about a
    second of this process's death.

    Args:
        main: the program's entry point, e.g. ``mltrack.serve.__main__.main``.
        argv: its arguments (without the program name).
        env: the child's whole environment.
        stdout_fd: descriptor for the child's stdout and stderr (the caller closes its copy).
        name: process name shown by ``ps``/``top`` (at most 15 bytes).
        cwd: working directory (default: this process's).
    """

    def body() -> int:
        drop_inherited_connections()
        return run_main(lambda: main(argv))

    return fork_call(body, name=name, env=env, stdio=(None, stdout_fd, stdout_fd), cwd=cwd)


#: How a script starts mltrack in a new interpreter: ``[sys.executable, "-m", "mltrack", ...]``.
_STARTS_MLTRACK = re.compile(r"""["']-m["']\s*,\s*["']mltrack(\.serve)?["']""")


def runs_mltrack(paths: Iterable[Path]) -> bool:
    """Whether any of these scripts runs ``python -m mltrack`` (worth a fork server)."""
    for path in paths:
        with contextlib.suppress(OSError):
            if _STARTS_MLTRACK.search(path.read_text(errors="replace")):
                return True
    return False


# -- the fork server ----------------------------------------------------------------------


class ForkServer:
    """Handle of a running fork server (see :func:`start_forkserver`).

    Attributes:
        socket_path: the Unix socket clients connect to.
        process: the server process (leader of its own group).
    """

    def __init__(
        self, socket_path: str, process: subprocess.Popen[bytes], root: str, hash_seed: str = ""
    ) -> None:
        self.socket_path = socket_path
        self.process = process
        self._root = root
        self._hash_seed = hash_seed

    @property
    def env(self) -> dict[str, str]:
        """The variables that make ``python -m mltrack`` a client this server accepts: its
        socket, and its hash seed when it has one (it declines a client whose seed differs).
        """
        env = {FORKSERVER_ENV: self.socket_path}
        if self._hash_seed:
            env["PYTHONHASHSEED"] = self._hash_seed
        return env

    def stop(self) -> None:
        """End the server and every child it still runs; remove its socket directory."""
        import shutil

        from mltrack._process import kill_group

        kill_group(self.process, grace_s=2)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_forkserver(
    env: dict[str, str] | None = None, modules: tuple[str, ...] = FORKSERVER_MODULES
) -> ForkServer | None:
    """Start a fork server that ends with this process; ``None`` where it cannot run.

    It listens at once, then imports ``modules`` one by one: a client that comes early is
    served between two imports, with what is imported so far.
    Clients whose interpreter, hash seed or flags differ from the server's are told no
    and run as usual.

    Args:
        env: the server's environment (default ``os.environ``); give it the one the
            clients will have, so that what modules read when imported matches.
        modules: modules to import before forking (missing ones are skipped).
    """
    import subprocess
    import time

    from mltrack._process import can_fork, owned_tempdir, owner_env

    if not can_fork():  # Linux only; MLTRACK_SERVER_START=spawn turns forking off
        return None
    root = owned_tempdir("mltrack-forkserver-")
    path = os.path.join(root, "sock")
    env = dict(os.environ if env is None else env)
    with open(os.path.join(root, "server.log"), "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mltrack._forkserver", path, *modules],
            env={**env, **owner_env()},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while not os.path.exists(path):  # bound before the imports: milliseconds
        if proc.poll() is not None or time.monotonic() > deadline:
            ForkServer(path, proc, str(root)).stop()
            return None
        time.sleep(0.01)
    return ForkServer(path, proc, str(root), env.get("PYTHONHASHSEED", ""))


def _identity() -> dict[str, object]:
    """What must match between a client and the server for a fork to behave the same."""
    return {
        "executable": sys.executable,
        "hashseed": os.environ.get("PYTHONHASHSEED", ""),
        "flags": list(sys.flags),
        "prefix": sys.prefix,
    }


def _serve(path: str, modules: list[str]) -> int:
    """The fork server's main loop: import, then fork a child per request."""
    import importlib
    import socket
    import warnings

    from mltrack._process import exit_with_parent_from_env

    def on_owner_death() -> None:
        import shutil

        _kill_children()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # socket and log

    exit_with_parent_from_env(on_exit=on_owner_death)
    name_process(b"mltrack-zygote")
    me = _identity()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.replace(path + ".tmp", path)  # clients see the socket only once it listens
    # Clients that come while the imports run are served between two imports, with what
    # is imported so far: none waits longer than one module's import.
    listener.setblocking(False)
    for name in modules:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. starlette.middleware.wsgi's deprecation
                importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a module that is not installed is fine
            print(f"fork server: not pre-imported: {name}: {exc}", file=sys.stderr)
        _serve_pending(listener, me)
    if "sklearn" in sys.modules:  # the first model load or save would do it: seconds
        from mltrack.frameworks import preload

        preload()
        _serve_pending(listener, me)
    import gc

    gc.collect()
    gc.freeze()  # children share these pages instead of copying them on the first GC
    listener.setblocking(True)
    while True:
        _serve_pending(listener, me)


def _serve_pending(listener: socket.socket, me: dict[str, object]) -> None:
    """Accept and serve clients: those waiting (non-blocking listener), or the next one."""
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        try:
            _handle(conn, me)
        except Exception as exc:  # noqa: BLE001 - one bad client must not end the server
            print(f"fork server: request failed: {exc!r}", file=sys.stderr)
            with contextlib.suppress(OSError):
                conn.close()
        if listener.getblocking():
            return


_children: dict[int, int] = {}  # pid -> pid (each leads its own group)


def _kill_children() -> None:
    for pid in list(_children):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _handle(conn: socket.socket, me: dict[str, object]) -> None:
    import json
    import socket
    import threading

    header, fds, _, _ = socket.recv_fds(conn, 8, 3)
    if len(header) < 8:
        header += _recv_exact(conn, 8 - len(header))
    request = json.loads(_recv_exact(conn, int(header)))
    theirs = request.get("identity") or {}
    differ = [key for key in me if theirs.get(key) != me[key]]
    if len(fds) != 3 or differ or request.get("module") not in _RUNNABLE:
        # The client runs the command itself; forked, it would not behave the same.
        print(f"fork server: declined: {differ or request.get('module')}", file=sys.stderr)
        for fd in fds:
            os.close(fd)
        conn.sendall(b'{"ok": false}\n')
        conn.close()
        return

    def body() -> int:
        global _in_child
        _in_child = True  # its own `python -m mltrack` runs here, not forked again
        sys.path[:] = request["path"]
        return run_main(lambda: _run_module([request["module"], *request["argv"]]))

    stdio = (fds[0], fds[1], fds[2])
    try:
        child = fork_call(
            body, name=b"mltrack", env=request["env"], stdio=stdio, cwd=request["cwd"]
        )
    finally:
        for fd in fds:
            os.close(fd)
    pid = child.pid
    _children[pid] = pid
    conn.sendall(json.dumps({"ok": True, "pid": pid}).encode() + b"\n")
    done = threading.Event()

    def reap() -> None:
        _, status = os.waitpid(pid, 0)
        done.set()
        _children.pop(pid, None)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # what it started in its group and left behind
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
        with contextlib.suppress(OSError):
            conn.close()

    def watch_client() -> None:
        # EOF before the child ended: the client died (even by SIGKILL); so does its child.
        with contextlib.suppress(OSError):
            conn.recv(1)
        if not done.is_set():
            from mltrack._process import kill_processes

            kill_processes([pid], grace_s=1.0)

    threading.Thread(target=reap, daemon=True).start()
    threading.Thread(target=watch_client, daemon=True).start()


def _run_module(args: list[str]) -> int | None:
    """``python -m args[0] args[1:]`` in this process."""
    import runpy
    import types

    module, argv = args[0], args[1:]
    sys.modules["__main__"] = types.ModuleType("__main__")
    sys.argv = ["-m", *argv]
    runpy._run_module_as_main(module, alter_argv=True)  # type: ignore[attr-defined]
    return 0


# -- the client ---------------------------------------------------------------------------


def run_via_forkserver(module: str) -> None:
    """Run ``python -m module`` in a fork of the server named by :data:`FORKSERVER_ENV`.

    Returns (and the caller goes on as usual) when there is no server, it cannot be
    reached or it declines; otherwise this process ends with the child's exit status
    (or the signal that ended it) and never returns. Signals this process gets are
    passed on to the child's process group; if this process is killed outright, the
    server ends the child.
    """
    path = os.environ.get(FORKSERVER_ENV)
    if not path or _in_child or not sys.platform.startswith("linux"):
        return
    if os.environ.get(SERVER_START_ENV, "").strip().lower() == "spawn":
        return  # forking turned off: a plain interpreter, as documented
    import json
    import socket

    from mltrack._process import OWNED_PATHS_ENV, OWNER_ENV, exit_with_parent_from_env

    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
    except OSError:
        return
    request = {
        "identity": _identity(),
        "module": module,
        "argv": sys.argv[1:],
        # The child's parent is the server, not our starter: the owner check (and the
        # cleanup of what the owner left to us) is ours, below; the server ends the child
        # when we end.
        "env": {k: v for k, v in os.environ.items() if k not in (OWNER_ENV, OWNED_PATHS_ENV)},
        "cwd": os.getcwd(),
        "path": sys.path,
    }
    body = json.dumps(request).encode()
    try:
        socket.send_fds(conn, [b"%08d" % len(body)], [0, 1, 2])
        conn.sendall(body)
        reader = conn.makefile("rb")
        reply = json.loads(reader.readline() or b"{}")
    except (OSError, ValueError):
        conn.close()
        return
    if not reply.get("ok"):
        conn.close()
        return
    pid = int(reply["pid"])
    exit_with_parent_from_env()  # a starter that set it: we end with it, the child with us

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)
    try:
        line = reader.readline()
        code = int(json.loads(line)["exit"]) if line else None
    except (OSError, ValueError, KeyError):
        code = None
    if code is None:
        print("error: the mltrack fork server ended before the command did", file=sys.stderr)
        os._exit(1)
    if code < 0:  # ended by a signal: so does this process, as the plain one would
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        os._exit(128 - code)
    os._exit(code)


if __name__ == "__main__":
    from mltrack._forkserver import _serve as _serve_imported  # one module, not two

    sys.exit(_serve_imported(sys.argv[1], sys.argv[2:]))
