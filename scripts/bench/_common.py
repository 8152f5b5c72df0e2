"""Shared helpers for benchmark scripts: machine facts, the JSON line, a clean exit.

Every benchmark imports this module first. Importing it:

* takes this folder off the import path: it holds the ``logging.py`` benchmark, which
  would shadow the standard library's ``logging`` for every script run from here;
* gives the benchmark a temp root of its own (``tempfile``'s default and ``TMPDIR`` for
  the processes it starts) and a sentinel: when the benchmark ends, however it ends
  (Ctrl-C, SIGTERM, SIGKILL), the processes it started and everything they wrote to temp
  are gone.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

# Not MLTRACK_*: the processes started below must not take it for one of mltrack's settings.
BENCH_MARKER_ENV = "BENCH_RUN_MARKER"


def _own_temp_root() -> Path:
    """Point temp files at a folder the sentinel removes if this benchmark is killed."""
    from mltrack._process import start_sentinel

    # Short: the fork server's socket lives a few folders below, and a Unix socket's
    # path is limited to 107 bytes. The sentinel, not a reaper, removes it.
    root = Path(tempfile.mkdtemp(prefix="mltrack-bench-run-"))
    marker = os.environ.setdefault(BENCH_MARKER_ENV, uuid.uuid4().hex)
    sentinel = start_sentinel(BENCH_MARKER_ENV, marker, [root])

    def clean_up() -> None:  # a normal exit, or an exception that ended the script
        shutil.rmtree(root, ignore_errors=True)
        sentinel.release()

    atexit.register(clean_up)
    tempfile.tempdir = str(root)
    os.environ["TMPDIR"] = str(root)
    return root


# A benchmark started by another keeps its starter's root (and one sentinel).
TEMP_ROOT = (
    Path(os.environ["TMPDIR"])
    if BENCH_MARKER_ENV in os.environ and "TMPDIR" in os.environ
    else _own_temp_root()
)


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version()}


def result(name: str, value: float, unit: str, goal: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "value": round(value, 4), "unit": unit}
    if goal:
        row["goal"] = goal
    return row


def emit(bench: str, results: list[dict[str, Any]], raw: dict[str, Any]) -> None:
    """Print the one JSON object every benchmark ends with (see shared/BENCHMARKS.md)."""
    print(json.dumps({"bench": bench, "machine": machine(), "results": results, "raw": raw}))


def process_tree(root: int) -> list[int]:
    """``root`` and every live process below it (Linux /proc), ``root`` first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_s(pids: list[int]) -> float:
    """CPU seconds of these processes so far, with the children they have reaped."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
