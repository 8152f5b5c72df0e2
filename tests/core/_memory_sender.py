"""A tracking server in memory, for the buffered logger's logic tests.

It records what it accepts, in order, and can be taken down (it then raises what the
real transport raises for a server that does not answer) or made to refuse a batch.
The outage tests against a real MLflow server are in test_logging.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mltrack.spool import SpoolBatch
from mltrack.transport import BatchRejected, ServerUnreachable


class MemorySender:
    """Implements :class:`mltrack.logging.LogSender`; thread-safe like the real transport.

    Attributes:
        batches: every batch accepted, in arrival order.
        runs: runs created by a replay, ``{server id: record}``.
        statuses: ``{run id: status}`` set by ``terminate_run``.
        up: False makes every call fail as a dead server does.
        refuse_key: a batch holding a metric with this key is rejected for good.
        hold_s: time each ``send`` takes (makes concurrent batches overlap).
        peak: most batches inside ``send`` at the same time.
        probes: calls of ``is_reachable``.
    """

    def __init__(self, hold_s: float = 0.0) -> None:
        self.batches: list[SpoolBatch] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, str] = {}
        self.up = True
        self.refuse_key: str | None = None
        self.hold_s = hold_s
        self.peak = 0
        self.probes = 0
        self._active = 0
        self._lock = threading.Lock()

    def _check_up(self) -> None:
        if not self.up:
            raise ServerUnreachable("connection refused (the in-memory server is down)")

    def send(self, batch: SpoolBatch) -> None:
        with self._lock:
            self._check_up()
            self._active += 1
            self.peak = max(self.peak, self._active)
        try:
            if self.hold_s:
                time.sleep(self.hold_s)
            if self.refuse_key is not None and any(m[0] == self.refuse_key for m in batch.metrics):
                raise BatchRejected(f"INVALID_PARAMETER_VALUE: bad metric {self.refuse_key!r}")
            with self._lock:
                self.batches.append(batch)
        finally:
            with self._lock:
                self._active -= 1

    def is_reachable(self) -> bool:
        self.probes += 1
        return self.up

    def create_run(self, record: dict[str, Any]) -> str:
        with self._lock:
            self._check_up()
            run_id = f"server-{len(self.runs)}"
            self.runs[run_id] = record
            return run_id

    def terminate_run(self, run_id: str, status: str, end_time: int | None) -> None:
        with self._lock:
            self._check_up()
            self.statuses[run_id] = status

    # -- reading back ---------------------------------------------------------------------
    def steps(self, run_id: str, key: str = "v") -> list[int]:
        """The steps received for ``key``, in arrival order (duplicates kept)."""
        with self._lock:
            return [
                m[3] for b in self.batches if b.run_id == run_id for m in b.metrics if m[0] == key
            ]

    def sizes(self) -> list[int]:
        with self._lock:
            return [len(b.metrics) for b in self.batches]
