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
that cannot fork (another platform, ``MLTRACK_SERVER_START=spawn``, a running event loop
in the calling thread, no fork server) falls back to a plain new interpreter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mltrack._process import exit_with_parent, name_process

if TYPE_CHECKING:
    from mltrack.localserver import ForkedProcess

__all__ = ["FORKSERVER_ENV", "fork_main"]

#: Path of a fork server's Unix socket; ``python -m mltrack`` asks it to run the command.
FORKSERVER_ENV = "MLTRACK_FORKSERVER"


def can_fork() -> bool:
    """Whether :func:`fork_main` may be used here (Linux, fork start method, no event loop).

    Raises:
        ServerStartError: ``MLTRACK_SERVER_START`` holds an unknown start method.
    """
    from mltrack.localserver import _fork_available

    return _fork_available()


def fork_main(
    main: Callable[[list[str]], int | None],
    argv: list[str],
    *,
    env: dict[str, str],
    stdout_fd: int,
    name: bytes = b"mltrack",
    cwd: str | None = None,
) -> ForkedProcess:
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
    import warnings

    from mltrack.localserver import ForkedProcess

    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # or the child would write the parent's buffered output again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded fork"
        pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    code = 70
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        _become_child(parent, name, (devnull, stdout_fd, stdout_fd), env, cwd)
        os.close(devnull)
        code = _run_main(main, argv)
    except BaseException:
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
    finally:
        os._exit(code)  # never the parent's atexit handlers or finalizers


def _become_child(
    parent: int | None,
    name: bytes,
    fds: tuple[int, int, int],
    env: dict[str, str],
    cwd: str | None,
) -> None:
    """Turn a fresh fork into a process of its own: session, streams, env, cwd, signals."""
    import atexit
    import logging
    import warnings

    os.setsid()
    name_process(name)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    _release_inherited_fds()
    if parent is not None:
        exit_with_parent(parent)
    # The parent's streams may be pytest's in-memory captures: use the real descriptors.
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1 if unbuffered else -1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    if cwd is not None:
        os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    atexit._clear()  # the parent's handlers are the parent's to run
    logging.root.handlers.clear()  # e.g. pytest's capture handlers
    warnings.resetwarnings()
    warnings.simplefilter("ignore", DeprecationWarning)  # Python's defaults, then the env's
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    warnings.simplefilter("ignore", ImportWarning)
    warnings.simplefilter("ignore", ResourceWarning)
    options = [o for o in env.get("PYTHONWARNINGS", "").split(",") if o.strip()]
    with contextlib.suppress(Exception):
        warnings._processoptions(options)  # type: ignore[attr-defined]
    # Python's own start-up state: SIGINT raises KeyboardInterrupt, SIGPIPE is ignored.
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _release_inherited_fds() -> None:
    """Point every inherited descriptor but 0, 1 and 2 at /dev/null.

    The parent's listening sockets would keep their ports bound, and pipes whose readers
    wait for every writer to close would never see the parent die. The numbers stay
    taken, so a parent's object that closes its descriptor later cannot close ours.
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = []
    for fd in fds:
        if fd > 2 and fd != devnull:
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
    os.close(devnull)


def _run_main(main: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run ``main(argv)`` like an interpreter would; return the exit status."""
    import atexit

    code = 0
    try:
        result = main(argv)
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()  # the child's own cleanup (e.g. a model's download dir)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code & 0xFF
