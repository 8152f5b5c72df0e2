"""Snapshots: normalised outputs committed under ``docs/_snapshots/`` and diffed in CI.

``ml docs snapshot --update`` writes one text file per item; ``ml docs check --snapshots``
fails when today's output drifts from the committed one and prints a unified diff, so a
behaviour change of the code shows up as a docs diff in review. Run ids, timestamps,
durations and temporary paths are masked, because they change on every run.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from mltrack.livedocs.ansi import strip_ansi
from mltrack.livedocs.model import ItemResult

__all__ = ["SNAPSHOT_DIR", "compare", "normalise", "snapshot_path", "write"]

SNAPSHOT_DIR = "docs/_snapshots"

_MASKS = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\b"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|s|sec|seconds)\b"), "<duration>"),
    (re.compile(r"(/tmp|/var/folders)/[^\s'\"]+"), "<tmp>"),
    (re.compile(r"\b1[6-9]\d{11}\b"), "<timestamp>"),  # epoch milliseconds
]


def normalise(result: ItemResult) -> str:
    """The stable text of a result: output without colours or volatile values, and runs."""
    text = strip_ansi(result.output)
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    if result.figures:
        lines.append(f"[{len(result.figures)} figure(s)]")
    for run in result.runs:
        params = ", ".join(f"{k}={v}" for k, v in sorted(run.params.items()))
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items()))
        lines.append(f"[run {run.name}: {run.status}; params: {params}; metrics: {metrics}]")
    if not result.ok and result.error is not None:
        lines.append(f"[failed: {result.error.type}: {result.error.message}]")
    return "\n".join(lines).strip() + "\n"


def snapshot_path(root: Path, item_id: str) -> Path:
    """``docs/_snapshots/examples__quickstart.py.txt`` for ``examples/quickstart.py``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item_id.replace("/", "__")).strip("_")
    return root / SNAPSHOT_DIR / f"{name}.txt"


def write(root: Path, results: list[ItemResult]) -> list[Path]:
    """Write (or overwrite) the snapshot of each result; return the files changed."""
    changed = []
    for result in results:
        path = snapshot_path(root, result.id)
        text = normalise(result)
        if path.is_file() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        changed.append(path)
    return changed


def compare(root: Path, results: list[ItemResult]) -> dict[str, str]:
    """Item id -> unified diff, for every result that differs from (or lacks) a snapshot."""
    drifts = {}
    for result in results:
        path = snapshot_path(root, result.id)
        rel = path.relative_to(root)
        expected = path.read_text() if path.is_file() else ""
        actual = normalise(result)
        if expected != actual:
            diff = difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"{rel} (committed)" if expected else f"{rel} (missing)",
                tofile=f"{rel} (today)",
            )
            drifts[result.id] = "".join(diff)
    return drifts
