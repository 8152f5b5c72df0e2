"""Shared helpers for benchmark scripts: machine facts and the JSON line."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

# This folder holds the `logging.py` benchmark, which would shadow the standard library's
# `logging` for every script run from here. Importing _common (first thing in each script)
# takes the folder off the import path again.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


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
