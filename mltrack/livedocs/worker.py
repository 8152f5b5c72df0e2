"""The process that executes one item (run as ``python -m mltrack.livedocs.worker SPEC``).

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


def _run_script(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    script = spec["path"]
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
        result = {
            "ok": False,
            "figures": [],
            "error": {
                "type": exc.ename,
                "message": exc.evalue,
                "line": line,
                "cell": None if cell_index is None else cell_index + 1,
                "tail": tail,
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


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    out_dir = Path(spec["out_dir"])
    signal.signal(signal.SIGTERM, _terminate)
    # At the timeout the parent sends SIGUSR1 first: we print where every thread is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    _preimport(spec.get("preimport", []))
    if spec.get("server_url"):
        _wait_for_server(spec["server_url"], spec.get("server_wait_s", 90.0))
        if spec.get("experiment"):
            _create_experiment(spec["server_url"], spec["experiment"])
    if spec["kind"] == "notebook":
        result = _run_notebook(spec, out_dir)
    else:
        result = _run_script(spec, out_dir)
    (out_dir / "result.json").write_text(json.dumps(result))
    # A normal exit runs the example's atexit hooks (MLflow ends dangling runs there).
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
