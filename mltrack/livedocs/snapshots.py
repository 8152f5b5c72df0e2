"""Snapshots: normalised outputs committed under ``docs/_snapshots/`` and diffed in CI.

``ml docs snapshot --update`` writes one text file per item; ``ml docs check --snapshots``
fails when today's output drifts from the committed one and prints a unified diff, so a
behaviour change of the code shows up as a docs diff in review. Run ids, timestamps,
durations and temporary paths are masked, because they change on every run; so are
loopback ports, short run ids, the per-item experiment suffix, MLflow's random run names,
the values of timing metrics and the Python patch release (machines differ). Table
padding is collapsed (a masked value changes column widths) and run lines are sorted
(runs started together have no stable order). An example whose output holds other
volatile values declares them with a header line
``# livedocs: snapshot_mask=REGEX`` (notebooks: ``metadata.livedocs.snapshot_mask``).
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mltrack.errors import LiveDocsError
from mltrack.livedocs.ansi import strip_ansi
from mltrack.livedocs.model import Item, ItemResult
from mltrack.livedocs.plan import item_header

__all__ = [
    "SNAPSHOT_DIR",
    "mask",
]

SNAPSHOT_DIR = "docs/_snapshots"

_MASKS = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\b"), "<time>"),
    # a table cell holding only a date: a table that wraps a start time puts its date on
    # one line (fixed dates elsewhere, like a template's format version, stay)
    (re.compile(r"(│\s*)\d{4}-\d{2}-\d{2}(?=\s*│)"), r"\1<date>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|s|sec|seconds)\b"), "<duration>"),
    (re.compile(r"(/tmp|/var/folders)/[^\s'\"]+"), "<tmp>"),
    (re.compile(r"\b1[6-9]\d{11}\b"), "<timestamp>"),  # epoch milliseconds
    (re.compile(r"\b(127\.0\.0\.1|localhost):\d{2,5}\b"), r"\1:<port>"),
    # short ids (runs, requests, git commits): hex with at least one digit and letter, or
    # eight digits (a short run id without a letter)
    (re.compile(r"\b(?=[0-9a-f]{0,39}[0-9])(?=[0-9a-f]{0,39}[a-f])[0-9a-f]{7,40}\b"), "<id>"),
    (re.compile(r"\b\d{8}\b(?!T)"), "<id>"),
    # ... and any hex where only an id can stand: a table cell of its own, code quotes,
    # after "run" or an id key (one short run id in ~2,600 is letters only: `bdacabaa`)
    (re.compile(r"(?<=[│┃|] )[0-9a-f]{7,40}(?= +[│┃|])"), "<id>"),
    (re.compile(r"(?<=`)[0-9a-f]{7,40}(?=`)"), "<id>"),
    (
        re.compile(r"""(\b(?:run|child of|(?:run_)?id['"]?\s*[:=])\s*['"]?)[0-9a-f]{7,40}\b"""),
        r"\1<id>",
    ),
    (re.compile(r"""(git\.commit['"]?[:=\s]\s*['"]?)[0-9a-f]{7,40}\b"""), r"\1<id>"),
    (re.compile(r"\b\d{8}T\d{6}Z?\b"), "<time>"),  # compact ISO time in file names
    (re.compile(r"(?<=\(id )\d+(?=\))"), "<n>"),  # experiment ids follow execution order
    (re.compile(r'(File "[^"]+", line )\d+'), r"\1<n>"),  # tracebacks: code moves
    # the machine that ran it (run tags): CI and a writer's laptop differ
    (
        re.compile(
            r"""((?:mltrack\.(?:host|user)|mlflow\.user)['"]?\s*[:=]\s*['"]?)[^'",\s}\]]+"""
        ),
        r"\1<host>",
    ),
    # the interpreter's patch release: machines with the same minor differ (a
    # distribution's 3.11.2, pyenv's 3.11.7); another minor is a real change and shows
    (
        re.compile(rf"\b{sys.version_info[0]}\.{sys.version_info[1]}\.\d+(?![\d.])"),
        f"{sys.version_info[0]}.{sys.version_info[1]}.<patch>",
    ),
    (re.compile(r"\b(livedocs-[a-z0-9-]+?)-[0-9a-f]{6}\b"), r"\1-<hash>"),  # experiment
    (re.compile(r"\b\d[\d,]*(\.\d+)?\s?(rows|req|it|calls|values)/s\b"), "<rate>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}\b"), "<time>"),  # a time that a table wrapped
    # timing values, whatever the notation: key=v, 'key': v, "key": v, prometheus `key v`
    (
        re.compile(
            r"""(['"]?)([\w.]*(?<![a-z])(?:time|latency|ms|seconds|duration|elapsed|per_s)"""
            r"""(?![a-z])[\w.]*(?:\{[^}]*\})?)\1(\s*[=:]\s*|\s)-?\d[\d.e+-]*"""
        ),
        r"\1\2\1\3<timing>",
    ),
]
_RUN_LINE = "[run "
_RANDOM_RUN_NAME = re.compile(r"^\[run [a-z]+-[a-z]+-\d{1,4}:")
_PADDING = re.compile(r"(?<=\S) {2,}")
# Table rules of any width are one rule; hyphens only from three on, so `--option` stays.
_RULE = re.compile(r"([─━═])\1+|-{3,}")


#: Headers of table columns that hold timings (``ml docs run``'s "seconds").
_TIMING_HEADER = re.compile(r"(?i)(seconds|duration|elapsed|latency|time)( \(m?s\))?|m?s")
_NUMBER_CELL = re.compile(r"(\s*)-?\d[\d.,]*(\s*)")


def _mask_timing_columns(text: str) -> str:
    """Mask the cells of table columns headed by a timing ("seconds"), which change on
    every run and carry no unit the value masks would see."""
    columns: set[int] = set()
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if "┃" in line:  # a table's header row
            cells = line.split("┃")
            columns = {i for i, cell in enumerate(cells) if _TIMING_HEADER.fullmatch(cell.strip())}
        elif columns and "│" in line:
            cells = line.split("│")
            for i in columns:
                if i < len(cells):
                    cells[i] = (
                        _NUMBER_CELL.sub(r"\1<duration>\2", cells[i])
                        if _NUMBER_CELL.fullmatch(cells[i])
                        else cells[i]
                    )
            lines[index] = "│".join(cells)
        elif line.lstrip().startswith(("└", "╰")):
            columns = set()
    return "\n".join(lines)


def mask(text: str, extra: Sequence[re.Pattern[str]] = ()) -> str:
    """Mask volatile values in normalised text; applying it twice changes nothing."""
    text = _mask_timing_columns(text)
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    for pattern in extra:
        text = pattern.sub("<masked>", text)
    lines, runs = [], []
    for line in text.strip("\n").split("\n"):
        line = _RULE.sub(lambda rule: rule[0][0], _PADDING.sub(" ", line.rstrip()))
        if line.startswith(_RUN_LINE):
            line = _RANDOM_RUN_NAME.sub("[run <random-name>:", line)
            runs.append(line)
        else:
            lines.append(line)
    return "\n".join([*lines, *sorted(runs)]).strip() + "\n"


def masks_of(header_value: str | None, where: str) -> list[re.Pattern[str]]:
    """Compile a ``snapshot_mask`` header value (one regular expression)."""
    if not header_value:
        return []
    try:
        return [re.compile(header_value)]
    except re.error as exc:
        raise LiveDocsError(
            f"{where}: snapshot_mask is not a valid regular expression ({exc}); fix the header"
        ) from None


def normalise(result: ItemResult, extra: Sequence[re.Pattern[str]] = ()) -> str:
    """The stable text of a result: output without colours or volatile values, and runs."""
    lines = [line.rstrip() for line in strip_ansi(result.output).strip("\n").split("\n")]
    if result.figures:
        lines.append(f"[{len(result.figures)} figure(s)]")
    for run in result.runs:
        params = ", ".join(f"{k}={v}" for k, v in sorted(run.params.items()))
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items()))
        lines.append(f"[run {run.name}: {run.status}; params: {params}; metrics: {metrics}]")
    for shot in sorted(result.screenshots, key=lambda s: s.spec):
        # What the view showed as text, not its pixels: review sees what changed on screen.
        target = re.sub(r"/experiments/\d+", "/experiments/<n>", shot.target)
        lines.append(f"[screenshot {target}]")
        lines += [f"  {line}" for line in shot.text.splitlines()]
    if not result.ok and result.error is not None:
        lines.append(f"[failed: {result.error.type}: {result.error.message}]")
    return mask("\n".join(lines), extra)


def snapshot_path(root: Path, item_id: str) -> Path:
    """``docs/_snapshots/examples__quickstart.py.txt`` for ``examples/quickstart.py``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item_id.replace("/", "__")).strip("_")
    return root / SNAPSHOT_DIR / f"{name}.txt"


def item_masks(root: Path, items: Mapping[str, Item]) -> dict[str, list[re.Pattern[str]]]:
    """Item id -> the ``snapshot_mask`` patterns its header declares."""
    out = {}
    for item_id, item in items.items():
        if item.path:
            value = item_header(root, item.path).get("snapshot_mask")
            if value:
                out[item_id] = masks_of(value, item.path)
    return out


_NO_MASKS: Mapping[str, Sequence[re.Pattern[str]]] = {}


def write(
    root: Path,
    results: list[ItemResult],
    masks: Mapping[str, Sequence[re.Pattern[str]]] = _NO_MASKS,
) -> list[Path]:
    """Write (or overwrite) the snapshot of each result; return the files changed.

    ``masks`` maps an item id to the extra patterns its header declares.
    """
    changed = []
    for result in results:
        path = snapshot_path(root, result.id)
        text = normalise(result, masks.get(result.id, ()))
        if path.is_file() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        changed.append(path)
    return changed


def compare(
    root: Path,
    results: list[ItemResult],
    masks: Mapping[str, Sequence[re.Pattern[str]]] = _NO_MASKS,
) -> dict[str, str]:
    """Item id -> unified diff, for every result that differs from (or lacks) a snapshot."""
    drifts = {}
    for result in results:
        path = snapshot_path(root, result.id)
        rel = path.relative_to(root)
        expected = path.read_text() if path.is_file() else ""
        actual = normalise(result, masks.get(result.id, ()))
        if expected != actual:
            diff = difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"{rel} (committed)" if expected else f"{rel} (missing)",
                tofile=f"{rel} (today)",
            )
            drifts[result.id] = "".join(diff)
    return drifts
