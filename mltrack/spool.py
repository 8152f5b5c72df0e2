"""On-disk spool: what could not reach the tracking server waits here, then is replayed.

Layout under the spool root (default ``.mltrack/spool`` in the project), one folder per
tracking URI::

    <root>/<uri-hash>/uri.txt             the tracking URI the entries belong to (no password)
    <root>/<uri-hash>/batches/*.json      one metric/param/tag batch per file
    <root>/<uri-hash>/runs/<local-id>.json  runs started while the server was unreachable

Replay is idempotent, so a crash half-way through never duplicates anything: MLflow's
SQL stores deduplicate metrics by (key, value, timestamp, step), a batch file is deleted
only after the server accepted it, and a run created on the server from a spooled
``local-…`` run records its server id in its file *before* any of its data is sent.
A file lock serialises replays from several processes (e.g. a run and ``ml sync``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mltrack.uris import strip_userinfo

__all__ = [
    "LOCAL_RUN_PREFIX",
    "ReplayResult",
    "Sender",
    "Spool",
    "SpoolBatch",
    "server_id_of",
    "spools_under",
]

LOCAL_RUN_PREFIX = "local-"

# local id -> server id of the spooled runs this process created on a server: a handle
# keeps its local id, and reading it back after the replay must find the server's run.
_server_ids: dict[str, str] = {}


def server_id_of(local_id: str) -> str | None:
    """The server id of a ``local-…`` run once this process's replay created it."""
    return _server_ids.get(local_id)


MetricRow = tuple[str, float, int, int]  # key, value, timestamp (ms), step


@dataclass
class SpoolBatch:
    """One unit of spooled data for one run."""

    run_id: str
    metrics: list[MetricRow] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)

    def size(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


class Sender(Protocol):
    """What replay needs from a tracking client."""

    def send(self, batch: SpoolBatch) -> None: ...

    def create_run(self, record: dict[str, Any]) -> str: ...

    def terminate_run(self, run_id: str, status: str, end_time: int | None) -> None: ...


@dataclass
class ReplayResult:
    """What a replay did."""

    batches_sent: int = 0
    values_sent: int = 0
    runs_created: int = 0
    runs_finished: int = 0
    remaining: int = 0
    rejected: list[str] = field(default_factory=list)


def _atomic_write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Spool:
    """The spool for one tracking URI.

    Args:
        root: the spool root.
        tracking_uri: the store the entries are for.
        folder: an existing spool folder under ``root`` (default: the one named after
            ``tracking_uri``).

    Attributes:
        tracking_uri: that URI without a user or password (``http://user:pw@host`` is
            stored and shown as ``http://host``): credentials stay where the user keeps
            them, never on disk here. Whoever replays brings them (``ml sync`` takes the
            configured URI's when it names the same server).
    """

    def __init__(self, root: Path, tracking_uri: str, folder: Path | None = None) -> None:
        self.tracking_uri = strip_userinfo(tracking_uri)[0]
        digest = hashlib.sha1(self.tracking_uri.encode()).hexdigest()[:12]
        self.dir = Path(folder) if folder is not None else Path(root) / digest
        self.batches_dir = self.dir / "batches"
        self.runs_dir = self.dir / "runs"
        self.rejected_dir = self.dir / "rejected"

    def _ensure(self) -> None:
        self.batches_dir.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        uri_file = self.dir / "uri.txt"
        if not uri_file.exists():
            uri_file.write_text(self.tracking_uri)

    # -- writing -----------------------------------------------------------------------
    def write_batch(self, batch: SpoolBatch, rejected: bool = False) -> Path:
        """Persist one batch (into ``rejected/`` when the server refused it); returns its file."""
        self._ensure()
        # Sortable names keep replay in logging order.
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        path = (self.rejected_dir if rejected else self.batches_dir) / name
        _atomic_write(
            path,
            {
                "run_id": batch.run_id,
                "metrics": batch.metrics,
                "params": batch.params,
                "tags": batch.tags,
            },
        )
        return path

    def new_local_run(self, record: dict[str, Any]) -> str:
        """Record a run started while the server was unreachable; returns its local id."""
        self._ensure()
        local_id = LOCAL_RUN_PREFIX + uuid.uuid4().hex
        _atomic_write(self.runs_dir / f"{local_id}.json", {**record, "local_id": local_id})
        return local_id

    def finish_local_run(self, local_id: str, status: str, end_time: int) -> None:
        """Record the end of a spooled run (applied when it is replayed)."""
        path = self.runs_dir / f"{local_id}.json"
        record = json.loads(path.read_text())
        record.update(status=status, end_time=end_time)
        _atomic_write(path, record)

    def finish_run_later(self, run_id: str, status: str, end_time: int) -> None:
        """Record that a *server* run must be terminated once the server is back."""
        self._ensure()
        _atomic_write(
            self.runs_dir / f"{run_id}.json",
            {"server_id": run_id, "status": status, "end_time": end_time, "existing": True},
        )

    # -- reading -----------------------------------------------------------------------
    def pending_batches(self) -> list[Path]:
        if not self.batches_dir.exists():
            return []
        return sorted(p for p in self.batches_dir.glob("*.json"))

    def pending_runs(self) -> list[Path]:
        if not self.runs_dir.exists():
            return []
        return sorted(self.runs_dir.glob("*.json"))

    def pending_values(self) -> int:
        """Number of metric values, params and tags waiting (reads every batch file)."""
        total = 0
        for path in self.pending_batches():
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())
                total += len(data["metrics"]) + len(data["params"]) + len(data["tags"])
        return total

    def is_empty(self) -> bool:
        return not self.pending_batches() and not self.pending_runs()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self._ensure()
        with open(self.dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- replay ------------------------------------------------------------------------
    def replay(self, sender: Sender, rejected_error: type[Exception] | None = None) -> ReplayResult:
        """Send everything spooled, in order. Stops at the first unreachable error (raised).

        Args:
            sender: the client that talks to the tracking server.
            rejected_error: exception type meaning "the server refused this batch for
                good" (e.g. invalid data); such batches move to ``rejected/`` instead of
                blocking the queue forever.
        """
        result = ReplayResult()
        with self.lock():
            id_map = self._create_pending_runs(sender, result)
            for path in self.pending_batches():
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue  # a half-written file from a crash: its writer never renamed it
                run_id = id_map.get(data["run_id"], data["run_id"])
                if run_id.startswith(LOCAL_RUN_PREFIX):
                    continue  # its run could not be created yet
                batch = SpoolBatch(
                    run_id=run_id,
                    metrics=[tuple(m) for m in data["metrics"]],
                    params=[tuple(p) for p in data["params"]],
                    tags=[tuple(t) for t in data["tags"]],
                )
                try:
                    sender.send(batch)
                except Exception as exc:
                    if rejected_error is not None and isinstance(exc, rejected_error):
                        self.rejected_dir.mkdir(parents=True, exist_ok=True)
                        os.replace(path, self.rejected_dir / path.name)
                        result.rejected.append(f"{path.name}: {exc}")
                        continue
                    raise
                path.unlink()
                result.batches_sent += 1
                result.values_sent += batch.size()
            self._terminate_finished_runs(sender, result)
            result.remaining = len(self.pending_batches())
        return result

    def _create_pending_runs(self, sender: Sender, result: ReplayResult) -> dict[str, str]:
        id_map: dict[str, str] = {}
        records = [(path, json.loads(path.read_text())) for path in self.pending_runs()]
        by_local_id = {record.get("local_id"): record for _, record in records}
        for path, record in sorted(records, key=lambda pr: _depth(pr[1], by_local_id)):
            if record.get("existing"):
                continue
            if not record.get("server_id"):
                # A parent spooled before its child was created first: point at its server id.
                parent = id_map.get(record.get("parent_id") or "", record.get("parent_id"))
                record["server_id"] = sender.create_run({**record, "parent_id": parent})
                _atomic_write(path, record)  # before any data: a retry never creates it twice
                result.runs_created += 1
            id_map[record["local_id"]] = record["server_id"]
            _server_ids[record["local_id"]] = record["server_id"]
        return id_map

    def _terminate_finished_runs(self, sender: Sender, result: ReplayResult) -> None:
        remaining_run_ids = set()
        for path in self.pending_batches():
            with contextlib.suppress(OSError, ValueError):
                remaining_run_ids.add(json.loads(path.read_text())["run_id"])
        for path in self.pending_runs():
            record = json.loads(path.read_text())
            ids = {record.get("local_id"), record.get("server_id")}
            if not record.get("status") or not record.get("server_id") or ids & remaining_run_ids:
                continue
            sender.terminate_run(record["server_id"], record["status"], record.get("end_time"))
            path.unlink()
            result.runs_finished += 1


def _depth(record: dict[str, Any], by_local_id: dict[Any, dict[str, Any]]) -> int:
    """How many spooled ancestors a spooled run has: parents are created before children."""
    depth, parent = 0, record.get("parent_id")
    while parent in by_local_id and depth < len(by_local_id):
        depth, parent = depth + 1, by_local_id[parent].get("parent_id")
    return depth


def spools_under(root: Path) -> Sequence[Spool]:
    """Every per-URI spool found under ``root`` (for ``ml sync``)."""
    spools = []
    if Path(root).is_dir():
        for uri_file in sorted(Path(root).glob("*/uri.txt")):
            written = uri_file.read_text().strip()
            spool = Spool(Path(root), written, folder=uri_file.parent)
            if written != spool.tracking_uri:
                # Written by an mltrack that kept the URI's password: take it off the disk.
                uri_file.write_text(spool.tracking_uri)
            spools.append(spool)
    return spools
