"""Process toolkit: children that never outlive their owner, temp dirs the next owner reaps.

One place for how mltrack starts and ends the processes it owns (the throwaway MLflow
server, the docs engine's workers, pool and kernels, model servers, ``ml server``):

* :func:`exit_with_parent` - called *in* a long-lived child: it ends (with its process
  group, when it leads one) within a fraction of a second of its parent's death, even a
  SIGKILL. On Linux the parent-death signal (``PR_SET_PDEATHSIG``) wakes it at once; a
  watchdog thread polling ``getppid()`` is the portable fallback. The signal only
  *wakes* the watchdog, which re-checks ``getppid()``: Linux sends it when the parent
  *thread* that forked the child exits (a ``ThreadPoolExecutor`` thread), which must not
  end a child whose parent process still runs.
* :func:`keeper_command` - wraps a command we cannot add code to (uvicorn) in a small
  keeper that runs it and ends its group when the owner dies.
* :func:`owned_tempdir` / :func:`reap_tempdirs` - temp dirs named after their owner's pid
  and start time; a later owner removes those whose owner is gone (pid reuse cannot
  fool the start time) and never a live owner's.
* :func:`start_sentinel` - a process in a session of its own that, when the build dies
  before saying goodbye, kills every process carrying the build's marker variable and
  removes its temp dir.
* :func:`fork_child`, :func:`release_inherited_fds` and :class:`ForkedChild` - what every
  fork of a running process (the throwaway server, the fork server's and the docs
  worker's children, warm notebook kernels) does first, and its ``Popen``-like handle.
* :func:`fork_call` - run a function in a fork that becomes a process of its own (the
  throwaway server, the team server's processes, a model server, the fork server's
  children), with :func:`run_main` for an interpreter's exit status and
  :func:`drop_inherited_connections` for a child that uses the parent's SQL stores.

Only the standard library is imported: the docs worker loads this file by path before
an example runs, without importing the ``mltrack`` package.
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    sys.path.pop(0)  # run as a script: mltrack/logging.py must not shadow the stdlib's

import contextlib
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import subprocess

# subprocess and tempfile are imported where used: a docs worker loads this module
# before every example, and they would add ~30 ms to its start-up.

__all__ = [
    "OWNED_PATHS_ENV",
    "OWNER_ENV",
    "SERVER_START_ENV",
    "ForkedChild",
    "Sentinel",
    "can_fork",
    "drop_inherited_connections",
    "exit_with_parent",
    "exit_with_parent_from_env",
    "fork_call",
    "fork_child",
    "free_port",
    "keeper_command",
    "kill_group",
    "kill_processes",
    "name_process",
    "owned_tempdir",
    "owner_env",
    "pid_start_time",
    "port_is_free",
    "processes_with_env",
    "reap_tempdirs",
    "release_inherited_fds",
    "run_main",
    "set_parent_death_signal",
    "spawn_kept",
    "start_sentinel",
    "wait_polled",
]

# Ports handed out by free_port: below Linux's ephemeral range (32768+), so an outgoing
# connection never holds one, and each process draws from a slice of its own (by pid):
# two processes that each pick a port and bind it a moment later (xdist workers, parallel
# builds) do not pick the same one, as two bind(0) calls could.
_PORT_LOW, _PORT_HIGH, _PORT_SLICES = 20000, 32000, 96
_next_port: int | None = None
_port_lock = threading.Lock()

#: Set by a starter in its child's environment: the pid the child must not outlive.
OWNER_ENV = "MLTRACK_OWNER_PID"
#: Beside :data:`OWNER_ENV`: folders (``os.pathsep``-separated) the child removes when the
#: owner dies first (the owner's own cleanup cannot run after a SIGKILL).
OWNED_PATHS_ENV = "MLTRACK_OWNED_PATHS"
#: ``fork`` (the default) or ``spawn``: how mltrack starts the servers it runs.
SERVER_START_ENV = "MLTRACK_SERVER_START"
#: Grace between SIGTERM and SIGKILL when an owner is gone (the guarantee is 3 s in all).
_GRACE_S = 1.0
_POLL_S = 0.1
#: (this pid, parent) -> the cleanups of the one watchdog of :func:`exit_with_parent`.
_watchdogs: dict[tuple[int, int], list[Callable[[], None]]] = {}
if hasattr(os, "register_at_fork"):  # a fork inherits the dict, not the threads behind it
    os.register_at_fork(after_in_child=_watchdogs.clear)
_IS_LINUX = sys.platform.startswith("linux")
#: Only wakes the watchdog; a real-time signal nothing else in the process uses.
_PDEATH_SIGNAL = (signal.SIGRTMIN + 3) if hasattr(signal, "SIGRTMIN") else None


class _Polled(Protocol):
    pid: int

    def poll(self) -> int | None: ...


class _Process(_Polled, Protocol):
    def wait(self, timeout: float | None = None) -> int: ...


# -- stopping ------------------------------------------------------------------------------


def kill_group(proc: _Process, grace_s: float = 10) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it spawned.

    SIGTERM to its process group, SIGKILL to whatever is left after ``grace_s`` seconds;
    when the leader already exited, its leftover children are killed too.
    """
    import subprocess

    if proc.poll() is not None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of a finished leader
        return
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def kill_processes(pids: Iterable[int], grace_s: float = _GRACE_S) -> None:
    """SIGTERM ``pids`` (and the groups they lead), SIGKILL what is left after ``grace_s``.

    A group is signalled only when the pid leads it: a process that shares its parent's
    group must not take the parent's other processes down with it.
    """
    pids = [p for p in pids if p != os.getpid()]
    for pid in pids:
        _signal_leader(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        _signal_leader(pid, signal.SIGKILL)


def _signal_leader(pid: int, sig: int) -> None:
    """``sig`` to the group ``pid`` leads, or to ``pid`` alone when it leads none."""
    with contextlib.suppress(OSError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", "rb") as fh:
        return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie is gone
    return True


def processes_with_env(name: str, value: str) -> list[int]:
    """PIDs of other processes whose environment carries ``name=value`` (Linux /proc)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


# -- forked children -----------------------------------------------------------------------


def fork_child() -> int:
    """``os.fork()``, after flushing this process's ``sys.stdout`` and ``sys.stderr``.

    Unflushed, the child would write the parent's buffered output a second time. Python
    3.12+ warns when a process with threads forks (a watchdog thread, a server's): these
    children run Python only, never a lock another thread held; the warning is not shown.
    """
    import warnings

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded fork"
        return os.fork()


def release_inherited_fds(keep: Iterable[int]) -> None:
    """In a fresh fork, point every descriptor but those in ``keep`` at /dev/null.

    The parent's listening sockets would keep their ports bound (and swallow
    connections) after the parent closed them, and pipes whose readers wait for every
    writer to close (the docs build's sentinel) would never see the parent die. The
    numbers stay taken, so a parent's object that closes its descriptor later cannot
    close ours.
    """
    keep = set(keep)
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = []
    for fd in fds:
        if fd not in keep and fd != devnull:
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
    os.close(devnull)


def wait_polled(proc: _Polled, timeout: float | None = None, interval: float = 0.02) -> int:
    """``Popen.wait`` for a process known by ``poll()`` alone: poll until it has ended.

    Raises:
        subprocess.TimeoutExpired: it still runs after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while (code := proc.poll()) is None:
        if deadline is not None and time.monotonic() > deadline:
            import subprocess

            raise subprocess.TimeoutExpired(f"pid {proc.pid}", timeout or 0.0)
        time.sleep(interval)
    return code


class ForkedChild:
    """A child this process forked (:func:`fork_child`), as a ``subprocess.Popen``.

    The part of ``Popen``'s interface the starters, :func:`kill_group` and
    ``jupyter_client``'s kernel provisioner use: ``pid``, ``returncode``, ``poll``,
    ``wait``, ``send_signal``, ``terminate``, ``kill``, and no pipes.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Its exit code (``-N`` for signal N) once it has ended, else ``None``."""
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1  # reaped elsewhere: ended, with a status unknown
                return self.returncode
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait until it has ended; its exit code.

        Raises:
            subprocess.TimeoutExpired: it still runs after ``timeout`` seconds.
        """
        if timeout is None and self.returncode is None:
            # Block in the kernel (a server waited on for hours wakes no one); a signal
            # handler that raises (Ctrl-C) still interrupts it.
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self.returncode = -1  # reaped elsewhere: ended, with a status unknown
            else:
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        return wait_polled(self, timeout)

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to it, unless it has ended (its pid may be another's now)."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def can_fork() -> bool:
    """Whether mltrack may start its servers as forks here (:func:`fork_call`).

    Yes on Linux unless ``MLTRACK_SERVER_START=spawn`` asks for fresh interpreters. A
    caller in an event loop forks too: :func:`fork_call` forks from a thread without one.

    Raises:
        ServerStartError: ``MLTRACK_SERVER_START`` holds an unknown start method.
    """
    method = os.environ.get(SERVER_START_ENV, "").strip().lower() or "fork"
    if method not in ("fork", "spawn"):
        from mltrack.errors import ServerStartError

        raise ServerStartError(
            f"{SERVER_START_ENV}={method!r} is not a start method; use 'fork' or 'spawn'"
        )
    return method == "fork" and _IS_LINUX and hasattr(os, "fork")


def fork_call(
    body: Callable[[], int],
    *,
    name: bytes,
    env: Mapping[str, str],
    stdio: tuple[int | None, int, int],
    cwd: str | None = None,
) -> ForkedChild:
    """Fork this process; the child becomes a process of its own and runs ``body()``.

    The one way mltrack runs a function in a fork (the throwaway server, the team
    server's processes, a model server, the fork server's children). The child leads a
    new session (its group holds all it starts), reads ``stdio[0]`` (/dev/null when
    ``None``) and writes ``stdio[1]`` and ``stdio[2]``, holds none of the parent's other
    descriptors, runs with exactly ``env`` in ``cwd`` (default: this process's), with
    Python's start-up signal handlers and warning filters and none of the parent's atexit
    handlers, and ends within about a second of this process's death, even a SIGKILL of
    it (:func:`exit_with_parent`).

    It exits with what ``body`` returns; when anything raises (``SystemExit`` too), with
    70 and the traceback on its stderr: wrap ``body`` in :func:`run_main` for an
    interpreter's exit status. It ends by ``os._exit``, so never runs the parent's atexit
    handlers or finalizers.

    A caller whose thread runs an event loop (a Jupyter cell, Playwright's sync API) is
    forked from a helper thread instead: a child of the looping thread would find that
    loop running and could not run one of its own (uvicorn's).

    Args:
        body: what the child runs; its exit status.
        name: process name shown by ``ps``/``top`` (at most 15 bytes).
        env: the child's whole environment.
        stdio: descriptors for the child's stdin, stdout and stderr; the caller's
            copies stay open (close them once this returns).
        cwd: the child's working directory.
    """
    if _event_loop_runs_here():
        forked: list[ForkedChild | BaseException] = []

        def fork_from_here() -> None:
            try:
                forked.append(fork_call(body, name=name, env=env, stdio=stdio, cwd=cwd))
            except BaseException as exc:  # handed to the caller's thread
                forked.append(exc)

        helper = threading.Thread(target=fork_from_here, name="mltrack-fork")
        helper.start()
        helper.join()
        if isinstance(forked[0], BaseException):
            raise forked[0]
        return forked[0]
    parent = os.getpid()
    pid = fork_child()
    if pid:
        return ForkedChild(pid)
    code = 70
    try:
        stdin = os.open(os.devnull, os.O_RDONLY) if stdio[0] is None else stdio[0]
        _become_child(parent, name, (stdin, stdio[1], stdio[2]), env, cwd)
        if stdio[0] is None:
            os.close(stdin)  # dup2'ed to 0
        code = body()
    except BaseException:
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
    finally:
        os._exit(code)  # never the parent's atexit handlers or finalizers


def _event_loop_runs_here() -> bool:
    """Whether an asyncio event loop runs in the calling thread."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False  # never imported: no loop anywhere
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _become_child(
    parent: int,
    name: bytes,
    fds: tuple[int, int, int],
    env: Mapping[str, str],
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
    release_inherited_fds(keep=(0, 1, 2))
    exit_with_parent(parent)  # from any thread of the parent: not its thread's lifetime
    # The parent's streams may be pytest's in-memory captures: use the real descriptors.
    # As the interpreter sets them up: stdout block-buffered unless a terminal or
    # PYTHONUNBUFFERED, stderr line-buffered and never failing on a character.
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1 if unbuffered else -1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
    for stream in (sys.stdout, sys.stderr) if unbuffered else ():
        stream.reconfigure(write_through=True)
    _redirect_log_handlers()
    if cwd is not None:
        os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    _trace_for_docs_build()
    if "tempfile" in sys.modules:  # it caches TMPDIR's directory at first use
        import tempfile

        tempfile.tempdir = None
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


def _redirect_log_handlers() -> None:
    """Point logging handlers bound to the old ``sys.stdout``/``sys.stderr`` at the new ones.

    MLflow configures its logger when imported, with a handler holding the ``sys.stderr``
    object of that moment; it must write where this process's stderr goes now.
    """
    import logging

    old = {id(sys.__stdout__): sys.stdout, id(sys.__stderr__): sys.stderr}
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and id(stream) in old:
                handler.setStream(old[id(stream)])


def _trace_for_docs_build() -> None:
    """In a docs build, record the project files this fork uses, like a new interpreter.

    A docs example's child processes record the project files they open
    (``mltrack/livedocs/childtrace``, loaded at interpreter start-up), so that the
    example runs again when the code behind an ``ml`` command changes. A fork starts no
    interpreter: install the same recorder here, and count every module it inherited
    already imported as used (more than it may need: a stale page is the worse error).
    """
    if not os.environ.get("MLTRACK_LIVEDOCS_CHILD_OPENS"):
        return
    import importlib.util

    here = Path(__file__).parent / "livedocs" / "childtrace" / "sitecustomize.py"
    spec = importlib.util.spec_from_file_location("_mltrack_childtrace", here)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    inherited = tuple(
        path
        for path in (getattr(m, "__file__", None) for m in list(sys.modules.values()))
        if isinstance(path, str)
    )
    module._install(inherited)


def drop_inherited_connections() -> None:
    """In a fresh fork, forget the parent's pooled database connections (without closing them).

    MLflow keeps a SQLAlchemy engine per store; its pooled sqlite connections are the
    parent's descriptors, now pointing at /dev/null, where sqlite finds an empty database
    ("no such table"). SQLAlchemy's recipe for a fork: ``dispose(close=False)``; the
    engine opens new connections of its own on first use.
    """
    engine_module = sys.modules.get("sqlalchemy.engine")
    if engine_module is None:
        return
    import gc
    import warnings

    engine_type = engine_module.Engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # isinstance() on some lazy modules warns (torch)
        for obj in gc.get_objects():
            # type(), not isinstance(): that reads __class__, which a lazy proxy answers by
            # loading what it stands for (openai's module-level clients: seconds).
            if issubclass(type(obj), engine_type):
                with contextlib.suppress(Exception):
                    obj.dispose(close=False)


def run_main(main: Callable[[], int | None]) -> int:
    """Run ``main()`` in a forked child as an interpreter runs a program; its exit status.

    ``SystemExit`` gives its code (a message: printed, 1), another exception its
    traceback and 1, an uncaught Ctrl-C ends the process by SIGINT; the child's own
    atexit handlers run, then its streams are flushed.
    """
    import atexit

    code = 0
    try:
        result = main()
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
        code = -signal.SIGINT
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()  # the child's own cleanup (e.g. a model's download dir)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if code < 0:  # an uncaught Ctrl-C: Python ends by SIGINT then, so the parent sees it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 128 + signal.SIGINT
    return code & 0xFF


# -- tying a child to its owner ------------------------------------------------------------


def name_process(name: bytes) -> None:
    """Set this process's name (``/proc/PID/comm``, at most 15 bytes) on Linux."""
    if not _IS_LINUX:
        return
    import ctypes

    with contextlib.suppress(Exception):
        pr_set_name = 15
        ctypes.CDLL(None).prctl(pr_set_name, ctypes.c_char_p(name[:15]), 0, 0, 0)


def set_parent_death_signal(parent: int, sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no-op elsewhere).

    Only safe when the parent forked us from a thread that lives as long as the parent
    (its main thread, a single-threaded pool): Linux fires it when that *thread* ends.
    Use :func:`exit_with_parent` otherwise. If the parent is already gone (it died before
    the call), ``sig`` is sent right away.
    """
    if not _IS_LINUX:
        return
    import ctypes

    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def exit_with_parent(
    parent: int | None = None,
    on_exit: Callable[[], None] | None = None,
    grace_s: float = _GRACE_S,
) -> None:
    """End this process within about ``grace_s`` + 0.1 s of its parent's death.

    Call it early in a long-lived child. When the parent (``parent``, default: the
    current one) is gone, ``on_exit`` runs (kill what this process started outside its
    group), then this process's group (or the process alone if it does not lead one) gets
    SIGTERM and, after ``grace_s``, SIGKILL. A second call for the same parent adds its
    ``on_exit`` to the first call's watchdog (one watchdog runs every cleanup before it
    ends the process; two would race).

    Args:
        parent: pid that must be alive; a mismatch with ``getppid()`` at the call means
            the parent died before it, and the process ends at once.
        on_exit: cleanup to run first (errors are ignored).
        grace_s: seconds between SIGTERM and SIGKILL.
    """
    parent = os.getppid() if parent is None else parent
    new: list[Callable[[], None]] = []
    cleanups = _watchdogs.setdefault((os.getpid(), parent), new)
    if on_exit is not None:
        cleanups.append(on_exit)
    if cleanups is not new:
        return
    wake = threading.Event()
    if (
        _IS_LINUX
        and _PDEATH_SIGNAL is not None
        and threading.current_thread() is threading.main_thread()
    ):
        previous = signal.getsignal(_PDEATH_SIGNAL)
        if previous in (signal.SIG_DFL, None):
            signal.signal(_PDEATH_SIGNAL, lambda *_: wake.set())
            set_parent_death_signal(parent, _PDEATH_SIGNAL)

    def watch() -> None:
        while os.getppid() == parent:
            if wake.wait(_POLL_S):
                wake.clear()  # the forking thread ended, or the parent: getppid() tells
        for cleanup in list(cleanups):
            with contextlib.suppress(BaseException):
                cleanup()
        _end_self(grace_s)

    threading.Thread(target=watch, name="mltrack-exit-with-parent", daemon=True).start()


def exit_with_parent_from_env(on_exit: Callable[[], None] | None = None) -> None:
    """:func:`exit_with_parent` when a starter set :data:`OWNER_ENV`; no-op otherwise.

    When the owner dies first, ``on_exit`` runs, then the folders the starter named in
    :data:`OWNED_PATHS_ENV` are removed. Both variables are removed from the environment
    so the processes this one starts do not inherit them.
    """
    value = os.environ.pop(OWNER_ENV, "")
    paths = [p for p in os.environ.pop(OWNED_PATHS_ENV, "").split(os.pathsep) if p]
    if not value.isdigit():
        return

    def clean_up() -> None:
        try:
            if on_exit is not None:
                on_exit()
        finally:
            for path in paths:
                shutil.rmtree(path, ignore_errors=True)

    exit_with_parent(int(value), on_exit=clean_up)


def owner_env(owned: Iterable[Path | str] = ()) -> dict[str, str]:
    """The variables to give a child that runs :func:`exit_with_parent_from_env`.

    Args:
        owned: folders of this process's that the child removes if this process dies
            before it (a log folder the child writes into, say).
    """
    env = {OWNER_ENV: str(os.getpid())}
    paths = [str(p) for p in owned]
    if paths:
        env[OWNED_PATHS_ENV] = os.pathsep.join(paths)
    return env


def _end_self(grace_s: float) -> None:
    """SIGTERM this process (its group when it leads one), SIGKILL after ``grace_s``.

    The signals are sent by a fork of this thread, not by this thread: once SIGTERM has
    started the interpreter's shutdown, a daemon thread that wakes up during finalization
    is stopped for good, and a finalization slowed down by a busy machine (or stuck) would
    keep the process alive for as long as it takes.
    """
    me = os.getpid()
    killer = -1
    with contextlib.suppress(OSError):
        killer = fork_child()
    if killer == 0:  # the killer: only the thread that forked it runs here
        try:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # it is in the group it ends
            kill_processes([me], grace_s)  # returns as soon as this process is gone
        finally:
            os._exit(0)
    if killer > 0:
        with contextlib.suppress(OSError):
            os.waitpid(killer, 0)  # returns when this process is about to be killed
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):  # no fork: the same from this thread
        _signal_leader(me, sig)
        time.sleep(grace_s)


def keeper_command(cmd: list[str]) -> list[str]:
    """``cmd`` run under a keeper that ends its process group when the caller dies.

    For commands we cannot add :func:`exit_with_parent` to (``uvicorn``). Start the
    result with ``start_new_session=True``: the keeper leads the group, runs ``cmd`` in
    it, exits with its status, and forwards nothing (signals to the group reach both).
    """
    return [sys.executable, "-S", os.path.abspath(__file__), "keep", str(os.getpid()), *cmd]


def spawn_kept(
    cmd: list[str], *, log: Path, env: dict[str, str], cwd: str | Path
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` under a keeper (:func:`keeper_command`) in a session of its own.

    stdin is ``/dev/null``; stdout and stderr are appended to ``log``. The result is a
    group leader: stop it with :func:`kill_group`.
    """
    import subprocess

    with open(log, "ab") as out:  # the child holds its own copy once started
        return subprocess.Popen(
            keeper_command(cmd),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )


def _keep(owner: int, cmd: list[str]) -> int:
    # SIGTERM/SIGINT to the group reach the command too; the keeper waits for it.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    exit_with_parent(owner)
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        if os.WIFSIGNALED(status):  # end the same way, so the starter sees what happened
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        return os.waitstatus_to_exitcode(status) & 0xFF


# -- temp dirs -----------------------------------------------------------------------------

_STAMP = re.compile(r"^(?P<prefix>.+?)(?P<pid>\d+)-(?P<start>\d+)-(?P<ns>\d+)-[^-]+$")


def _pid_namespace() -> int:
    """Which pid namespace we are in: a container sharing /tmp numbers its pids anew."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def pid_start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux), 0 elsewhere, None if dead."""
    if not _IS_LINUX:
        return 0 if _alive(pid) else None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None  # it has ended; only its parent's wait is due
    return int(fields[19])  # field 22 of the line; the two before ")" are cut off


def _bind_host(host: str) -> str:
    return "0.0.0.0" if host in ("", "0.0.0.0") else host


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound right now (nothing listens there)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_bind_host(host), port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` right now, from this process's slice."""
    import random
    import socket

    global _next_port
    size = (_PORT_HIGH - _PORT_LOW) // _PORT_SLICES
    base = _PORT_LOW + (os.getpid() % _PORT_SLICES) * size  # a fork gets a new slice too
    with _port_lock:
        if _next_port is None or not base <= _next_port < base + size:
            _next_port = base + random.randrange(size)
        for _ in range(size):
            port = _next_port
            _next_port = base + (port - base + 1) % size
            if port_is_free(port, host):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # the slice is full
        sock.bind((_bind_host(host), 0))
        return int(sock.getsockname()[1])


def owned_tempdir(prefix: str) -> Path:
    """``mkdtemp`` named after its owner: ``PREFIX<pid>-<start time>-<pid namespace>-…``."""
    import tempfile

    me = os.getpid()
    stamp = f"{me}-{pid_start_time(me) or 0}-{_pid_namespace()}"
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{stamp}-"))


def reap_tempdirs(prefixes: Iterable[str], base: str | None = None) -> list[Path]:
    """Remove :func:`owned_tempdir` dirs whose owner is gone; return what was removed.

    A dir is removed only when its pid is dead or now belongs to a process that started
    at another time (pid reuse); a live owner's dir, unstamped dirs and dirs of another
    pid namespace (a container sharing /tmp: its pids are not ours) are left alone.
    """
    import tempfile

    base = base or tempfile.gettempdir()
    removed: list[Path] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    prefixes = tuple(prefixes)
    namespace = _pid_namespace()
    for name in names:
        if not name.startswith(prefixes):
            continue
        match = _STAMP.match(name)
        if match is None or match["prefix"] not in prefixes or int(match["ns"]) != namespace:
            continue
        started = pid_start_time(int(match["pid"]))
        if started is not None and (started == int(match["start"]) or not _IS_LINUX):
            continue  # the owner still runs
        path = Path(base) / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# -- sentinel ------------------------------------------------------------------------------


class Sentinel:
    """Handle of :func:`start_sentinel`: call :meth:`release` when the owner cleaned up."""

    def __init__(self, proc: subprocess.Popen[bytes]):
        self.proc = proc

    def watch(self, pid: int) -> None:
        """Have the sentinel kill ``pid`` (and the group it leads) too if this process dies.

        For a child without the marker variable: a fork of this process (the throwaway
        server) carries the environment this process started with. The pid is sent with
        its start time, so a pid reused meanwhile is left alone. A second line of defence
        beside the child's own :func:`exit_with_parent`, whose thread a busy child may run
        late.
        """
        started = pid_start_time(pid)
        if started is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(f"pid {pid} {started}\n".encode())
            self.proc.stdin.flush()

    def release(self) -> None:
        """Tell the sentinel the owner cleaned up itself, and let it go."""
        import subprocess

        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"done\n")
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def start_sentinel(marker_name: str, marker: str, paths: Iterable[Path]) -> Sentinel:
    """Start a process that cleans up after this one if it dies without :meth:`release`.

    It waits on a pipe only this process holds. If the pipe closes without a goodbye
    (this process died, even by SIGKILL), it kills every process whose environment has
    ``marker_name=marker`` and those named with :meth:`Sentinel.watch` (and the groups
    they lead), then removes ``paths``. It runs in a session of its own, so a signal to
    the owner's group does not reach it.
    """
    import subprocess

    cmd = [
        sys.executable,
        "-S",
        os.path.abspath(__file__),
        "sentinel",
        marker_name,
        marker,
        *(str(p) for p in paths),
    ]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Sentinel(proc)


def _sentinel(marker_name: str, marker: str, paths: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    said = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(0, 64):
            said += chunk
    if b"done" in said:
        return 0
    watched = [
        int(pid)
        for pid, started in re.findall(rb"^pid (\d+) (\d+)$", said, re.M)
        if pid_start_time(int(pid)) == int(started)  # not a pid reused since
    ]
    # SIGTERM, then SIGKILL after 0.5 s; then SIGKILL whatever appeared meanwhile (a
    # process forked while we killed), until none is left or 1.5 s have passed.
    deadline = time.monotonic() + 1.5
    kill_processes([*processes_with_env(marker_name, marker), *watched], grace_s=0.5)
    while time.monotonic() < deadline:
        pids = [p for p in processes_with_env(marker_name, marker) if _alive(p)]
        if not pids:
            break
        kill_processes(pids, grace_s=0.0)
        time.sleep(0.05)
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    return 0


def _main(argv: list[str]) -> int:
    if argv[:1] == ["sentinel"]:
        return _sentinel(argv[1], argv[2], argv[3:])
    if argv[:1] == ["keep"]:
        return _keep(int(argv[1]), argv[2:])
    print("usage: _process.py sentinel NAME VALUE PATH... | keep OWNER CMD...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
