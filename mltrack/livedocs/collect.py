"""What an executed item left behind, turned into its :class:`ItemResult`.

The worker writes the item's combined output to a log and ``result.json`` (error,
figures, dependencies, peak memory) into its output directory; a notebook leaves its
executed copy there too. :func:`collect` reads all of it, scrubs every text (secrets,
the server's random URL, temp paths) and asks the throwaway server, through MLflow's
own client, which runs the item created in its experiment.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from mltrack.errors import LiveDocsError
from mltrack.livedocs.model import ErrorInfo, Figure, Item, ItemResult, RunSummary
from mltrack.livedocs.processes import condense_dump, line_in_dump
from mltrack.livedocs.redact import Scrubber, redact_notebook

__all__ = [
    "EXPERIMENT_FILE",
    "MAX_RUNS",
    "claim_experiment",
    "claimed_experiment",
    "collect",
    "file_sha",
    "load_figure",
    "preload_client",
    "run_summaries",
    "scrub_notebook",
    "source_line",
    "tracking_client",
]

#: The worker writes the experiment it claimed (see ``worker.py``) into this file.
EXPERIMENT_FILE = "experiment.txt"
#: Runs shown per item, oldest first.
MAX_RUNS = 50
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def collect(
    item: Item,
    root: Path,
    returncode: int | None,
    log_path: Path,
    out_dir: Path,
    dump_offset: int | None,
    duration: float,
    url: str | None,
    experiment: str,
    scrub: Scrubber,
) -> ItemResult:
    """The result of an item whose process has ended.

    Args:
        item: what ran.
        root: the project root (item paths and dependencies are relative to it).
        returncode: the worker's (or command's) exit code.
        log_path: its combined stdout/stderr.
        out_dir: where the worker wrote ``result.json`` and the executed notebook.
        dump_offset: where the stack dump of a timed-out worker starts in the log;
            ``None`` when it did not time out.
        duration: seconds since it was spawned; the worker's own measure (``run_s``,
            without the waits for the pool and the server) replaces it when reported.
        url: the tracking server it ran against; ``None`` when the item ended before
            the server was up (it created no run, and MLflow's client must not be
            imported while the build may still fork the server).
        experiment: the experiment it ran in (:func:`claimed_experiment`).
        scrub: redacts secrets and replaces the build's paths and URL.
    """
    raw = log_path.read_bytes()
    timed_out = dump_offset is not None
    dump = scrub(raw[dump_offset:].decode("utf-8", errors="replace")) if timed_out else ""
    output = scrub(raw[:dump_offset].decode("utf-8", errors="replace"))
    result = ItemResult(
        id=item.id, key=item.key, ok=True, duration_s=duration, returncode=returncode
    )
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((out_dir / "result.json").read_text())
    if timed_out:
        result.ok = False
        result.error = ErrorInfo(
            "TimeoutError",
            f"killed after {item.timeout_s:g} s; raise it with '# livedocs: timeout=N' "
            "or make the example faster",
            line=line_in_dump(dump, item.path),
            tail=condense_dump(dump),
        )
    elif item.kind == "cli":
        if returncode != 0 and not item.allow_error:
            result.ok = False
            lines = output.strip().splitlines()
            result.error = ErrorInfo(
                "CommandError",
                f"exit code {returncode}" + (f": {lines[-1]}" if lines else ""),
                tail="\n".join(lines[-12:]),
            )
    elif data.get("error") or returncode != 0:
        err = data.get("error") or {
            "type": "WorkerError",
            "message": f"worker exited with code {returncode}",
            "tail": "\n".join(output.strip().splitlines()[-12:]),
        }
        result.ok = False
        result.error = ErrorInfo(
            type=err["type"],
            message=scrub(err.get("message", "")),
            line=err.get("line"),
            cell=err.get("cell"),
            tail=scrub(err.get("tail", "")),
            source=err.get("source") and scrub(err["source"]),
        )
    result.output = output
    if result.error is not None and result.error.source is None:
        source = source_line(root, item, result.error.line)
        result.error.source = source and scrub(source)
    started_ns = time.time_ns() - int(duration * 1e9)
    result.deps = {
        rel: _digest_as_run(root / rel, started_ns)
        for rel in data.get("deps", [])
        if (root / rel).is_file()
    }
    if isinstance(data.get("peak_rss_mb"), int | float):
        result.peak_rss_mb = float(data["peak_rss_mb"])
    if isinstance(data.get("cpu_s"), int | float):
        result.cpu_s = float(data["cpu_s"])
    if isinstance(data.get("run_s"), int | float) and 0 <= data["run_s"] <= duration:
        result.duration_s = float(data["run_s"])
    figures = [load_figure(f, scrub) for f in data.get("figures", [])]
    result.figures = [f for f in figures if f is not None]
    executed = out_dir / "executed.ipynb"
    if executed.is_file():
        scrub_notebook(executed, scrub)
        result.notebook = str(executed)
    if not timed_out and item.needs_server and url is not None:
        result.runs = run_summaries(url, experiment, scrub)
    return result


def source_line(root: Path, item: Item, line: int | None) -> str | None:
    """Line ``line`` of a script item's file (what a failure points at)."""
    if item.kind != "script" or item.path is None or line is None:
        return None
    lines = (root / item.path).read_text(errors="replace").splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


#: The digest recorded for a dependency saved while its item ran: it matches no file, so
#: the next build runs the item again.
CHANGED_WHILE_RUNNING = "changed-while-running"


def _digest_as_run(path: Path, started_ns: int) -> str:
    """``path``'s digest, unless it changed after the item started (a writer saved it
    mid-build): the item may have run the old content, which the digest of the new one
    would pass off as current."""
    if path.stat().st_mtime_ns > started_ns:
        return CHANGED_WHILE_RUNNING
    return file_sha(path)


def file_sha(path: Path) -> str:
    """SHA-256 of a file's bytes (how the cache tells a dependency changed)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_figure(entry: dict[str, str], scrub: Scrubber) -> Figure | None:
    """A figure the worker reported (PNG, SVG or JPEG up to 5 MB), SVG text scrubbed."""
    path = Path(entry["file"])
    mime = _MIME.get(path.suffix.lower())
    if mime is None or not path.is_file() or path.stat().st_size > 5_000_000:
        return None
    data = path.read_bytes()
    if mime == "image/svg+xml":  # text: a secret may be drawn in it
        data = scrub(data.decode("utf-8", errors="replace")).encode()
    return Figure(name=scrub(entry["name"]), mime=mime, data=base64.b64encode(data).decode())


def scrub_notebook(path: Path, scrub: Scrubber) -> None:
    """Scrub every output of the executed copy (all MIME types, JSON data recursively)."""
    nb = redact_notebook(json.loads(path.read_text()), scrub)
    path.write_text(json.dumps(nb, indent=1))


def preload_client() -> None:
    """Import MLflow's client ahead of the first :func:`run_summaries` (about 1.5 s).

    Run it in a thread once the server is up: never while the build may still fork
    (the throwaway server is a fork of the build process, and a fork taken while
    another thread imports can deadlock on that module's import lock).
    """
    with contextlib.suppress(Exception):
        import mlflow.tracking  # noqa: F401


def claimed_experiment(out_dir: Path, given: str) -> str:
    """The experiment the worker claimed (:data:`EXPERIMENT_FILE`), else ``given``."""
    try:
        return (out_dir / EXPERIMENT_FILE).read_text().strip() or given
    except OSError:
        return given


def claim_experiment(url: str, name: str, attempts: int = 100) -> str:
    """Create the experiment ``name`` on the server, or ``name-2``, ``name-3``... when a
    build sharing the server has it already; return the name created.

    The same rule as the worker's (``worker.py``): a fresh throwaway server always gives
    ``name`` itself. Creating is what makes the claim safe when builds run at once.
    """
    from mlflow.exceptions import MlflowException

    client = tracking_client(url)
    if client is None:
        return name  # the command reports the server's state itself
    for number in range(1, attempts + 1):
        candidate = name if number == 1 else f"{name}-{number}"
        try:
            client.create_experiment(candidate)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_ALREADY_EXISTS":
                continue
            raise
        return candidate
    raise LiveDocsError(f"experiments {name!r} to {name}-{attempts} all exist on {url}")


def run_summaries(url: str, experiment: str, scrub: Scrubber) -> list[RunSummary]:
    """The runs an item created in its experiment, oldest first (at most
    :data:`MAX_RUNS`): name, status, params and latest metrics, names and values scrubbed.

    An item that created no experiment (or a server that stopped answering) has none.
    """
    client = tracking_client(url)
    if client is None:
        return []
    try:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return []  # no experiment: the item created no run
        runs = client.search_runs(
            [found.experiment_id],
            max_results=MAX_RUNS,
            order_by=["attributes.start_time ASC"],
        )
    except Exception:  # MlflowException, requests' errors: show the output without runs
        return []
    return [
        RunSummary(
            name=scrub(run.info.run_name or ""),
            status=run.info.status or "",
            params={scrub(k): scrub(str(v)) for k, v in run.data.params.items()},
            metrics={scrub(k): float(v) for k, v in run.data.metrics.items()},
        )
        for run in runs
    ]


def tracking_client(url: str) -> Any | None:
    """MLflow's client (``MlflowClient``) for the build's tracking server, through
    mltrack's transport; ``None`` when the server does not answer.

    How the engine reads what the items left (runs here, the views of ``screenshot:``
    blocks in ``screenshots.py``). MLflow's client retries a dead server for minutes;
    the transport's 2 s probe fails at once.
    """
    from mltrack.transport import TrackingTransport

    transport = TrackingTransport(url)
    if not transport.is_reachable():
        return None
    return transport.client
