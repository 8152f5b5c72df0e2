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


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
