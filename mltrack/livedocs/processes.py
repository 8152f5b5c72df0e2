"""The docs runner's processes: the warm fork pool, /proc sampling, stack dumps, kills.

How a process is started, tied to its owner and stopped in general lives in
:mod:`mltrack._process`; this module holds what only the docs runner needs on top of
it: the client of the worker's fork pool (``worker.py --pool``), the modules worth
pre-importing there, a process's peak memory, the stack dump of a timed-out worker and
the build-wide kill of every process carrying the build's marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mltrack._process import ForkedChild, kill_group, processes_with_env
from mltrack.errors import LiveDocsError
from mltrack.livedocs.model import EngineConfig, Item

__all__ = [
    "KERNEL_MODULES",
    "MARKER_ENV",
    "POOL_MODULES",
    "WORKER",
    "ForkedProcess",
    "WorkerPool",
    "condense_dump",
    "kill_marked",
    "line_in_dump",
    "notebook_code",
    "peak_rss_mb",
    "pool_modules",
    "request_stack_dump",
    "terminate_as_interrupt",
]

#: Marker variable set in every worker's environment; used to find stragglers.
MARKER_ENV = "LIVEDOCS_BUILD_MARKER"
#: The worker runs as a plain script: it imports only the standard library before the item.
WORKER = str(Path(__file__).with_name("worker.py"))
#: What the pool imports for warm notebook kernels (see worker.py, "warm kernels").
KERNEL_MODULES = ("ipykernel.kernelapp", "jupyter_client.manager", "nbclient", "nbformat")
#: Heavy modules the warm pool imports once when an example imports them.
POOL_MODULES = (
    "mlflow",
    "numpy",
    "pandas",
    "sklearn",
    "matplotlib",
    "mltrack",
    "openai",
    "anthropic",
)
#: ``import a.b`` / ``from a.b import c``: the module named (``a.b``).
_IMPORTED = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_.]*)", re.M)


# -- signals and kills -------------------------------------------------------------------


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while running, so cleanup runs for both."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def kill_marked(marker: str) -> None:
    """SIGKILL every other process whose environment carries ``MARKER_ENV=marker``
    (Jupyter kernels and what examples started in sessions of their own)."""
    for pid in processes_with_env(MARKER_ENV, marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# -- /proc ---------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set size of a running process (Linux ``VmHWM``), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# -- stack dumps of timed-out workers ----------------------------------------------------

#: Frames of the worker itself (and its exit-with-parent watchdog), not of the example.
_OWN_FRAMES = (
    "<frozen runpy>",
    "livedocs/worker.py",
    "livedocs/worker_tracing.py",
    "livedocs/worker_notebooks.py",
    "mltrack/_process.py",
)
#: A frame of the watchdog thread :func:`mltrack._process.exit_with_parent` starts.
_WATCHDOG_FRAME = "mltrack/_process.py"


def request_stack_dump(proc: Any, log_path: Path) -> int:
    """Ask a timed-out worker where it is stuck (SIGUSR1 -> faulthandler); return the
    log offset where that dump starts."""
    offset = log_path.stat().st_size
    if proc.poll() is not None:
        return offset
    with contextlib.suppress(OSError):
        os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 1.0
    size = offset
    while time.monotonic() < deadline:
        time.sleep(0.1)
        new_size = log_path.stat().st_size
        if new_size > offset and new_size == size:
            break  # the dump was written and has stopped growing
        size = new_size
    return offset


def condense_dump(dump: str) -> str:
    """The faulthandler dump without the worker's own frames and threads."""
    blocks: list[list[str]] = [[]]
    for line in dump.splitlines():
        if line.startswith(("Thread ", "Current thread ")):
            blocks.append([line.split(" (", 1)[0].replace("Current thread", "Thread") + ":"])
        elif line.strip():
            blocks[-1].append(line)
    lines = ["Still running when killed (most recent call first):"]
    for block in blocks:
        if any(_WATCHDOG_FRAME in line for line in block):
            continue  # the exit-with-parent watchdog thread, not the example's
        lines += [line for line in block if not any(own in line for own in _OWN_FRAMES)]
    return "\n".join(lines[:25])


def line_in_dump(dump: str, path: str | None) -> int | None:
    """The line of ``path`` a stack dump shows the example at (most recent call first)."""
    if not path:
        return None
    for match in re.finditer(r'File "([^"]+)", line (\d+)', dump):
        if match.group(1).endswith(path):
            return int(match.group(2))  # most recent call first
    return None


# -- the warm pool -------------------------------------------------------------------------


class ForkedProcess(ForkedChild):
    """A worker forked by the pool; quacks like ``Popen`` for waiting and killing.

    The pool's child, not this process's: its exit code comes from the pool.
    """

    def __init__(self, pool: WorkerPool, pid: int):
        super().__init__(pid)
        self.pool = pool

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.pool.exit_code(self.pid)
        return self.returncode


class WorkerPool:
    """Client of ``worker.py --pool``: forks pre-imported workers.

    Args:
        modules: what the pool imports once before it forks (:func:`pool_modules`).
        env: the pool's environment (the build's base environment).
    """

    def __init__(self, modules: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, "--pool", ",".join(modules)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pids: dict[int, int] = {}
        self._exits: dict[int, int] = {}
        self._ready = False
        self._dead = False
        self._files: dict[str, int] = {}  # project files the pool loaded -> mtime (ns)
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                message = json.loads(raw)
                with self._changed:
                    if "ready" in message:
                        self._files = dict(message.get("files", {}))
                        self._ready = True
                    elif "exit" in message:
                        self._exits[message["exit"]] = message["code"]
                    else:
                        self._pids[message["id"]] = message["pid"]
                    self._changed.notify_all()
        with self._changed:
            self._dead = True
            self._changed.notify_all()

    @property
    def ready(self) -> bool:
        """Whether the pool has finished importing (a fork comes at once)."""
        with self._lock:
            return self._ready and not self._dead

    def fresh(self) -> bool:
        """Running, and no project file it loaded has changed since (a pool kept between
        builds must not fork workers with yesterday's code)."""
        if self.proc.poll() is not None:
            return False
        with self._lock:
            if self._dead:
                return False
            files = dict(self._files)
        for path, mtime in files.items():
            try:
                if os.stat(path).st_mtime_ns != mtime:
                    return False
            except OSError:
                return False
        return True

    def exit_code(self, pid: int) -> int | None:
        with self._lock:
            if pid in self._exits:
                return self._exits[pid]
            if self._dead:
                return -signal.SIGKILL  # the pool died; its children were killed with it
        return None

    def spawn(self, spec: Path, cwd: Path, env: dict[str, str], log: Path) -> ForkedProcess:
        """Fork a worker for one item (blocks until the pool has finished importing)."""
        with self._changed:
            request_id = self._next
            self._next += 1
            line = json.dumps(
                {"id": request_id, "spec": str(spec), "cwd": str(cwd), "env": env, "log": str(log)}
            )
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
            except OSError:
                raise LiveDocsError(
                    "the livedocs worker pool died; run with a fresh build"
                ) from None
            while request_id not in self._pids:
                if self._dead:
                    raise LiveDocsError("the livedocs worker pool died; run with a fresh build")
                self._changed.wait(0.5)
            return ForkedProcess(self, self._pids.pop(request_id))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        kill_group(self.proc, grace_s=0.5)


def pool_modules(config: EngineConfig, items: list[Item]) -> list[str]:
    """Heavy modules the scripts and notebooks import (only those are worth pre-importing),
    plus what a warm notebook kernel needs when there are notebooks."""
    found: set[str] = set()
    notebooks = False
    for item in items:
        if item.kind not in ("script", "notebook") or not item.path:
            continue
        source = (config.root / item.path).read_text(errors="replace")
        if item.kind == "notebook":
            notebooks = True
            source = notebook_code(source)
        found.update(name.rstrip(".") for name in _IMPORTED.findall(source))
    # The submodules too (`from sklearn.linear_model import Ridge`): a package's top
    # level is often light, its submodules are what an example waits for.
    modules = []
    for package in POOL_MODULES:
        named = sorted(m for m in found if m == package or m.startswith(package + "."))
        if named and package == "matplotlib":
            named = sorted({*named, "matplotlib.pyplot"} - {"matplotlib"})
        modules += named
    # Not skops.io, though saving a scikit-learn model through MLflow imports it (seconds):
    # it imports torch when installed, and an example would then see torch imported
    # (mltrack.frameworks.detect_frameworks, autolog) where the reader's run would not.
    return [*modules, *KERNEL_MODULES] if notebooks else modules


def notebook_code(text: str) -> str:
    """The code cells of a notebook, one after another (``""`` if it is not JSON)."""
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    sources = [c.get("source", "") for c in cells if c.get("cell_type") == "code"]
    return "\n".join(s if isinstance(s, str) else "".join(s) for s in sources)
