"""The process that executes one item (``python .../mltrack/livedocs/worker.py SPEC``).

It runs in its own session (process group) and temp working directory, so the parent
can kill it and everything it started at the timeout. It writes ``result.json`` into
the output directory: success, the exception type/message/line, and the figures that
were left open or written to the working directory. Only the standard library is
imported before the item runs, so the worker adds almost nothing to its start-up.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import runpy
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

if sys.path and os.path.realpath(sys.path[0]) == os.path.realpath(os.path.dirname(__file__)):
    sys.path.pop(0)  # run as a script: the engine's modules must not shadow the example's


_HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str, path: str, **given: Any) -> Any:
    """A module by path: importing the ``mltrack`` package costs time.

    ``given`` are module globals set once it has loaded (the modules its functions use).
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: some stdlib code looks it up
    spec.loader.exec_module(module)
    module.__dict__.update(given)
    return module


#: Ends this process with its owner (the build, or the pool) - see mltrack/_process.py.
_process = _load("_mltrack_livedocs_process", os.path.join(os.path.dirname(_HERE), "_process.py"))
#: Notebooks: nbclient, plain and warm kernels.
_notebooks = _load(
    "_mltrack_livedocs_notebooks", os.path.join(_HERE, "worker_notebooks.py"), _process=_process
)
#: What the item uses of the project (imports, opened files, child processes). Loaded
#: last: the modules loaded by then are the worker's own, never an item's dependencies.
_tracing = _load("_mltrack_livedocs_tracing", os.path.join(_HERE, "worker_tracing.py"))
_notebooks._tracing = _tracing
# The names tests and older callers use.
_run_notebook = _notebooks.run_notebook
_stop_kernels = _notebooks.stop_kernels
_child_opens = _tracing.child_opens

#: The worker's own files: their frames are not the example's.
_OWN_FILES = ("worker.py", "worker_tracing.py", "worker_notebooks.py")
_IMAGE_SUFFIXES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def _error_from_exception(exc: BaseException, script: str) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    line = None
    for frame in frames:
        if os.path.realpath(frame.filename) == os.path.realpath(script):
            line = frame.lineno
    # Drop the worker's and runpy's own frames from what the reader sees.
    shown = [f for f in frames if "runpy" not in f.filename and not f.filename.endswith(_OWN_FILES)]
    text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(shown))
    text += "".join(traceback.format_exception_only(type(exc), exc))
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "line": line,
        "tail": "\n".join(text.rstrip().splitlines()[-12:]),
    }


def _save_figures(out_dir: Path, cwd: Path, before: set[str]) -> list[dict[str, str]]:
    written = []
    for path in sorted(cwd.rglob("*")):
        if (
            path.suffix.lower() in _IMAGE_SUFFIXES
            and str(path) not in before
            and not _in_a_store(path.relative_to(cwd))
            and path.is_file()
        ):
            written.append({"name": str(path.relative_to(cwd)), "file": str(path)})
    if not written and "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        for number in plt.get_fignums():
            target = out_dir / f"figure-{number}.png"
            plt.figure(number).savefig(target, dpi=96, bbox_inches="tight")
            written.append({"name": f"figure {number}", "file": str(target)})
    return written


def _in_a_store(relative: Path) -> bool:
    """Whether a file lies in a tracking store or a tool's folder, not among the figures
    the example wrote: a local store's artifacts (``.mltrack/``, ``mlruns/``,
    ``mlartifacts/``: the confusion matrices autologging logged) and hidden folders."""
    return any(
        part.startswith(".") or part in ("mlruns", "mlartifacts") for part in relative.parts[:-1]
    )


def _wait_for_server(url: str, timeout: float) -> None:
    """The parent starts the server while workers import; wait until it answers."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(
                f"livedocs: tracking server {url} did not answer within {timeout:.0f} s"
            )
        time.sleep(0.05)


def _claim_experiment(url: str, name: str, attempts: int = 100) -> str:
    """Create the item's experiment up front; return its name.

    ``name`` on a fresh throwaway server; on a server other builds use too (the pytest
    plugin's, a test's) the first of ``name-2``, ``name-3``... that does not exist yet, so
    the item never sees another item's runs. The runner's ``claim_experiment`` does the
    same for commands. Only the standard library: nothing is imported before the item.
    """
    import urllib.error
    import urllib.request

    for number in range(1, attempts + 1):
        candidate = name if number == 1 else f"{name}-{number}"
        request = urllib.request.Request(
            url + "/api/2.0/mlflow/experiments/create",
            data=json.dumps({"name": candidate}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            if b"RESOURCE_ALREADY_EXISTS" in exc.read():
                continue
            return name  # the item reports what is wrong with the server itself
        except OSError:
            return name
        return candidate
    return name


#: MLflow warnings about the build's environment, not about the example: the docs venv is
#: made by uv (no `pip` in it) and has PyTorch's CPU wheel (`torch==X+cpu`). A reader's
#: environment prints them or not; on the page they would only be noise.
_ENVIRONMENT_WARNINGS = {
    "mlflow.utils.environment": "Failed to resolve installed pip version",
    "mlflow.utils.requirements_utils": "contains a local version label",
}


def _quiet_environment_warnings() -> None:
    """Drop :data:`_ENVIRONMENT_WARNINGS` records (stdlib ``logging`` only: no import)."""
    import logging

    def keep(record: logging.LogRecord) -> bool:
        return _ENVIRONMENT_WARNINGS.get(record.name, "\0") not in record.getMessage()

    for name in _ENVIRONMENT_WARNINGS:
        logging.getLogger(name).addFilter(keep)


def _run_script(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    script = spec["path"]
    _quiet_environment_warnings()
    opened: list[str] = []
    used: set[str] = set()
    if spec.get("root"):
        _tracing.trace_opens(opened)
        _tracing.record_imports(used)
        children = _tracing.trace_children(spec["root"], out_dir)
    cwd = Path.cwd()
    before = {str(p) for p in cwd.rglob("*")}
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(script))
    result: dict[str, Any] = {"ok": True, "error": None}
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            result = {"ok": False, "error": _error_from_exception(exc, script)}
            result["error"]["message"] = f"exit code {exc.code}"
    except BaseException as exc:  # noqa: BLE001 - everything the example raises is reported
        result = {"ok": False, "error": _error_from_exception(exc, script)}
        print(result["error"]["tail"], file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    result["figures"] = _save_figures(out_dir, cwd, before)
    if spec.get("root"):
        opened += _tracing.child_opens(children)
        result["deps"] = _tracing.dependencies(spec["root"], script, opened, str(cwd), used)
    return result


def _peak_rss_mb(children: bool) -> float | None:
    """Peak resident memory of this process, with ``children`` of its reaped children too
    (a notebook's kernel), in MiB. The parent samples it as well, but misses short items.

    Our own peak is ``VmHWM``: ``ru_maxrss`` would carry the peak of the process that
    spawned us across ``exec``.
    """
    import resource

    own = None
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 1024
    if not children:
        return own
    kernel = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return max(own or 0.0, kernel) or None


def _cpu_s() -> float:
    """CPU seconds of this process and of the children it reaped (a notebook's kernel, the
    subprocesses an example waited for). A fork starts from zero: a pool child counts its
    item only. Servers an example leaves running on their own are not counted.
    """
    used = os.times()
    return round(used.user + used.system + used.children_user + used.children_system, 3)


def _terminate(signum: int, frame: Any) -> None:
    # Raising unwinds nbclient's context managers, which shut its kernel down.
    raise SystemExit(128 + signum)


def run_spec(spec: dict[str, Any]) -> int:
    """Execute one item described by ``spec``; write ``result.json``; return the exit code."""
    began = time.monotonic()
    out_dir = Path(spec["out_dir"])
    signal.signal(signal.SIGTERM, _terminate)
    # At the timeout the parent sends SIGUSR1 first: we print where every thread is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    _tracing.preimport(spec.get("preimport", []))
    waited = 0.0
    if spec.get("server_url"):
        before = time.monotonic()
        _wait_for_server(spec["server_url"], spec.get("server_wait_s", 90.0))
        waited = time.monotonic() - before
        if spec.get("experiment"):
            name = _claim_experiment(spec["server_url"], spec["experiment"])
            # The item, and every process it starts, logs to the experiment claimed.
            os.environ["MLFLOW_EXPERIMENT_NAME"] = os.environ["MLTRACK_EXPERIMENT"] = name
            (out_dir / "experiment.txt").write_text(name)
    (out_dir / "started").touch()  # the parent starts the item's timeout clock now
    if spec["kind"] == "notebook":
        result = _notebooks.run_notebook(spec, out_dir)
    else:
        result = _run_script(spec, out_dir)
    result["peak_rss_mb"] = _peak_rss_mb(children=spec["kind"] == "notebook")
    result["cpu_s"] = _cpu_s()
    # The item's own time. Not the wait for the throwaway server, nor the wait for the
    # warm pool to fork this process: at the start of a build the first items waited
    # seconds for both, and would be listed as the slowest.
    result["run_s"] = round(time.monotonic() - began - waited, 3)
    (out_dir / "result.json").write_text(json.dumps(result))
    return 0 if result["ok"] else 1


# -- warm pool ---------------------------------------------------------------------------
#
# `python .../worker.py --pool MODULES` imports the heavy modules once, then
# forks one child per request read from stdin. Each child starts its own session, takes
# the item's environment, working directory and log file, and runs it exactly like a
# fresh worker would, so 20 small examples cost one `import mlflow` instead of 20.
# The pool process never starts a thread (fork-safety); it polls stdin and reaps children.


def _child(request: dict[str, Any], parent: int) -> None:
    os.setsid()
    # The pool forked us from its only thread: its death (even SIGKILL) ends our group.
    _process.exit_with_parent(parent)
    log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.pop(_process.OWNER_ENV, None)  # for fresh workers; we are tied to the pool
    tempfile.tempdir = None  # the pool's choice is cached: take the item's TMPDIR
    code = 1
    try:
        code = run_spec(json.loads(Path(request["spec"]).read_text()))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported through the log
        traceback.print_exc()
    finally:
        import atexit

        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()  # MLflow ends dangling runs and flushes here
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reply(message: dict[str, Any]) -> None:
    sys.__stdout__.write(json.dumps(message) + "\n")  # type: ignore[union-attr]
    sys.__stdout__.flush()  # type: ignore[union-attr]


def pool(modules: list[str]) -> None:
    """Serve fork requests (JSON lines on stdin) until stdin closes or the owner dies.

    Then the children still running are killed with their process groups: the owner
    (the build) waits for its items itself, so nobody is left to want their results.
    """
    import select

    owner_text = os.environ.pop(_process.OWNER_ENV, "")
    owner = int(owner_text) if owner_text.isdigit() else os.getppid()
    stopping: list[int] = []
    # SIGTERM (the build's stop, or the parent-death signal) ends the loop, not the
    # process: the children must be killed first. No thread here: the pool forks.
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    _process.set_parent_death_signal(owner, signal.SIGTERM)
    _tracing.preimport(modules)
    _tracing.preload_frameworks(modules)
    _tracing.preload_llm_sdks(modules)
    _tracing.warm_realpaths()
    _reply({"ready": True, "files": _tracing.loaded_project_files()})
    children: set[int] = set()
    buffer = b""
    stdin = sys.stdin.buffer.fileno()
    me = os.getpid()
    while not stopping and os.getppid() == owner:
        try:
            readable, _, _ = select.select([stdin], [], [], 0.05)
        except InterruptedError:
            continue
        if readable:
            chunk = os.read(stdin, 65536)
            if not chunk:
                break  # the build closed the pipe, or died
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, me)
                children.add(pid)
                _reply({"id": request["id"], "pid": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                _reply({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
    _process.kill_processes(children, grace_s=0.5)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def main() -> None:
    if sys.argv[1] == "--pool":
        pool([m for m in sys.argv[2].split(",") if m])
        return
    # Started by the build from one of its threads: end with the build process itself.
    _process.exit_with_parent_from_env(on_exit=_notebooks.stop_kernels)
    code = run_spec(json.loads(Path(sys.argv[1]).read_text()))
    # A normal exit runs the example's atexit hooks (MLflow ends dangling runs there).
    sys.exit(code)


if __name__ == "__main__":
    main()
