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
import traceback
from pathlib import Path
from typing import Any

if sys.path and os.path.realpath(sys.path[0]) == os.path.realpath(os.path.dirname(__file__)):
    sys.path.pop(0)  # run as a script: the engine's modules must not shadow the example's

#: Modules loaded by the worker itself (stdlib only): never dependencies of an example.
_BASELINE = frozenset(sys.modules)

_IMAGE_SUFFIXES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def _error_from_exception(exc: BaseException, script: str) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    line = None
    for frame in frames:
        if os.path.realpath(frame.filename) == os.path.realpath(script):
            line = frame.lineno
    # Drop the worker's and runpy's own frames from what the reader sees.
    shown = [
        f for f in frames if "runpy" not in f.filename and not f.filename.endswith("worker.py")
    ]
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
        if path.suffix.lower() in _IMAGE_SUFFIXES and str(path) not in before and path.is_file():
            written.append({"name": str(path.relative_to(cwd)), "file": str(path)})
    if not written and "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        for number in plt.get_fignums():
            target = out_dir / f"figure-{number}.png"
            plt.figure(number).savefig(target, dpi=96, bbox_inches="tight")
            written.append({"name": f"figure {number}", "file": str(target)})
    return written


def _wait_for_server(url: str, timeout: float) -> None:
    """The parent starts the server while workers import; wait until it answers."""
    import time
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


def _create_experiment(url: str, name: str) -> None:
    """Create the item's experiment up front (MLflow would log a notice doing it)."""
    import urllib.request

    request = urllib.request.Request(
        url + "/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=10).close()


def _preimport(modules: list[str]) -> None:
    import importlib
    import warnings

    for name in modules:
        # A failing import is left for the example itself to report.
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            importlib.import_module(name)


_SKIP_PARTS = {".venv", "venv", ".git", ".cache", "site", "__pycache__", "node_modules"}


def _trace_opens(opened: list[str]) -> None:
    """Record every file the example opens (an audit hook; it cannot be removed)."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and args and isinstance(args[0], str | os.PathLike):
            opened.append(os.fspath(args[0]))

    sys.addaudithook(hook)


def _dependencies(root: str, script: str, opened: list[str], cwd: str) -> list[str]:
    """Project files the example used: imported local modules and files it read."""
    paths = {
        getattr(module, "__file__", None)
        for name, module in list(sys.modules.items())
        if name not in _BASELINE
    }
    paths.update(os.path.join(cwd, p) for p in opened)
    root_real = os.path.realpath(root)
    script_real = os.path.realpath(script)
    found = set()
    for path in paths:
        if not path:
            continue
        real = os.path.realpath(path)
        if real == script_real or not real.startswith(root_real + os.sep):
            continue
        rel = os.path.relpath(real, root_real)
        if _SKIP_PARTS.intersection(rel.split(os.sep)) or not os.path.isfile(real):
            continue
        found.add(rel)
    return sorted(found)


def _run_script(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    script = spec["path"]
    opened: list[str] = []
    if spec.get("root"):
        _trace_opens(opened)
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
        result["deps"] = _dependencies(spec["root"], script, opened, str(cwd))
    return result


def _run_notebook(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(spec["path"], as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=spec["kernel_name"],
        timeout=int(spec["timeout_s"]),
        resources={"metadata": {"path": str(Path.cwd())}},
    )
    result: dict[str, Any] = {"ok": True, "error": None, "figures": []}
    try:
        client.execute()
    except CellExecutionError as exc:
        cell_index = next(
            (
                i
                for i, cell in enumerate(nb.cells)
                if any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            ),
            None,
        )
        tail = "\n".join(str(exc).strip().splitlines()[-12:])
        line = _notebook_error_line(nb, cell_index)
        source = None
        if cell_index is not None and line is not None:
            cell_lines = str(nb.cells[cell_index].source).splitlines()
            source = cell_lines[line - 1] if 0 < line <= len(cell_lines) else None
        result = {
            "ok": False,
            "figures": [],
            "error": {
                "type": exc.ename,
                "message": exc.evalue,
                "line": line,
                "cell": None if cell_index is None else cell_index + 1,
                "tail": tail,
                "source": source,
            },
        }
    nbformat.write(nb, out_dir / "executed.ipynb")
    return result


def _notebook_error_line(nb: Any, cell_index: int | None) -> int | None:
    import re

    if cell_index is None:
        return None
    for output in nb.cells[cell_index].get("outputs", []):
        if output.get("output_type") != "error":
            continue
        lines = []
        for frame in output.get("traceback", []):
            plain = re.sub(r"\x1b\[[0-9;]*m", "", frame)
            lines += [int(m) for m in re.findall(r"^\s*(?:-+>|----> )\s*(\d+)", plain, re.M)]
            lines += [int(m) for m in re.findall(r"Cell In\[\d+\], line (\d+)", plain)]
        if lines:
            return lines[-1] if len(lines) == 1 else lines[0]
    return None


def _terminate(signum: int, frame: Any) -> None:
    # Raising unwinds nbclient's context managers, which shut its kernel down.
    raise SystemExit(128 + signum)


def run_spec(spec: dict[str, Any]) -> int:
    """Execute one item described by ``spec``; write ``result.json``; return the exit code."""
    out_dir = Path(spec["out_dir"])
    signal.signal(signal.SIGTERM, _terminate)
    # At the timeout the parent sends SIGUSR1 first: we print where every thread is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    _preimport(spec.get("preimport", []))
    if spec.get("server_url"):
        _wait_for_server(spec["server_url"], spec.get("server_wait_s", 90.0))
        if spec.get("experiment"):
            _create_experiment(spec["server_url"], spec["experiment"])
    (out_dir / "started").touch()  # the parent starts the item's timeout clock now
    if spec["kind"] == "notebook":
        result = _run_notebook(spec, out_dir)
    else:
        result = _run_script(spec, out_dir)
    (out_dir / "result.json").write_text(json.dumps(result))
    return 0 if result["ok"] else 1


# -- warm pool ---------------------------------------------------------------------------
#
# `python .../worker.py --pool MODULES` imports the heavy modules once, then
# forks one child per request read from stdin. Each child starts its own session, takes
# the item's environment, working directory and log file, and runs it exactly like a
# fresh worker would, so 20 small examples cost one `import mlflow` instead of 20.
# The pool process never starts a thread (fork-safety); it polls stdin and reaps children.


def _child(request: dict[str, Any]) -> None:
    os.setsid()
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
    """Serve fork requests (JSON lines on stdin) until stdin closes."""
    import select

    _preimport(modules)
    _reply({"ready": True})
    children: set[int] = set()
    buffer = b""
    stdin = sys.stdin.buffer.fileno()
    open_ = True
    while open_ or children:
        readable, _, _ = select.select([stdin] if open_ else [], [], [], 0.05)
        if readable:
            chunk = os.read(stdin, 65536)
            if not chunk:
                open_ = False
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children.add(pid)
                _reply({"id": request["id"], "pid": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                _reply({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
        if not open_ and not children:
            break


def main() -> None:
    if sys.argv[1] == "--pool":
        pool([m for m in sys.argv[2].split(",") if m])
        return
    code = run_spec(json.loads(Path(sys.argv[1]).read_text()))
    # A normal exit runs the example's atexit hooks (MLflow ends dangling runs there).
    sys.exit(code)


if __name__ == "__main__":
    main()
