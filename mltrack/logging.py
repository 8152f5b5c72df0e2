"""Fast, lossless metric logging.

``mltrack.log_metric`` puts the value in an in-memory queue and returns at once; a
background thread sends queued values with ``log_batch`` in full batches of
``logging.batch_size`` (1,000 per request, MLflow's limit). A partial batch goes out when
its oldest value has waited ``logging.flush_interval_s``, at the end of a run, on
:func:`flush` and at interpreter exit. Up to ``logging.max_in_flight`` batches are on
their way at once to a tracking server (sender threads; a store inside the process gets
one at a time): a process is not held to one server round trip per batch, and a server
that handles requests concurrently (PostgreSQL behind several workers) gets the
concurrency. Arrival order does not matter: MLflow keys a metric value by (key, value,
timestamp, step), and a run's latest value is picked by step, not by arrival.

When the tracking server is unreachable the batches go to an on-disk spool
(:mod:`mltrack.spool`) and the thread probes the server every ``logging.retry_interval_s``;
once it answers, the spool is replayed in order. ``ml sync`` replays it too. Nothing is
lost and, since replay is idempotent, nothing is duplicated. The outage is reported as one
line on stderr (at the end of a run whose data or status was spooled, or at the first
failed probe, whichever comes first), and so is the replay once the server is back:

    mltrack: tracking server http://host:5000 unreachable: 32 values and the status of run 'train' (FINISHED) spooled to .mltrack/spool/1a2b3c4d5e6f; they will be sent when it is back
    mltrack: tracking server http://host:5000 is back: sent the 32 spooled values and the status of 1 run

Read-after-write: :func:`catch_up` (called when a run ends and before a run is read back)
replays the spool at once when the server answers again, instead of at the next probe.

Steps: when ``step`` is omitted, each metric key counts its own steps 0, 1, 2, … per run,
so a loop of ``log_metric("loss", x)`` draws a curve in the MLflow UI.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from mltrack.config import LoggingSettings, load_settings
from mltrack.errors import MltrackError, TrackingServerError
from mltrack.notices import notice
from mltrack.run_context import current_run
from mltrack.spool import LOCAL_RUN_PREFIX, ReplayResult, Sender, Spool, SpoolBatch
from mltrack.transport import (
    BatchRejected,
    ServerUnreachable,
    TrackingTransport,
    is_http_uri,
)
from mltrack.uris import redact_urls, strip_userinfo

__all__ = [
    "BufferedLogger",
    "LogSender",
    "catch_up",
    "flush",
    "get_logger",
    "log_metric",
    "log_metrics",
]

_Row = tuple[str, str, float, int, int]  # run_id, key, value, timestamp ms, step


class LogSender(Sender, Protocol):
    """What the logger sends through: a tracking client that can also be probed.

    A :class:`BufferedLogger` given no ``sender`` uses a
    :class:`~mltrack.transport.TrackingTransport` for its tracking URI; tests pass an
    in-memory one. The sender's errors carry the meaning:
    :class:`~mltrack.transport.ServerUnreachable` spools and probes again later,
    :class:`~mltrack.transport.BatchRejected` puts the batch aside, anything else spools
    it as a server trouble (401/403, an overloaded server).
    """

    def is_reachable(self) -> bool: ...


class BufferedLogger:
    """Queue + background sender + spool for one tracking URI.

    Args:
        tracking_uri: the server (or store) the values are for; names the spool.
        settings: batch size, intervals, queue and in-flight limits.
        spool_dir: root of the on-disk spool.
        sender: what batches go through; default a
            :class:`~mltrack.transport.TrackingTransport` for ``tracking_uri``.
    """

    def __init__(
        self,
        tracking_uri: str,
        settings: LoggingSettings,
        spool_dir: Path,
        sender: LogSender | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.settings = settings
        self.transport: LogSender = (
            sender if sender is not None else TrackingTransport(tracking_uri)
        )
        self.spool = Spool(spool_dir, tracking_uri)
        self._queue: deque[_Row] = deque()
        self._cond = threading.Condition()
        self._enqueued = 0  # values accepted so far
        self._done = 0  # values sent or spooled so far
        self._flush_requested = False
        self._closed = False
        self._offline = False
        # Outage report: values spooled since the server was last reached, whether the
        # outage line was printed, and what went wrong ("" = unreachable).
        self._spooled = 0
        self._spooled_by_run: dict[str, int] = defaultdict(int)
        self._announced = False
        self._problem = ""
        self._next_probe = 0.0
        self._oldest = 0.0  # monotonic time the oldest queued value arrived (about)
        self._steps: dict[tuple[str, str], int] = defaultdict(int)
        self.peak_queue = 0
        self.last_error: str | None = None
        # A store in this process (sqlite file, directory) has one writer and the GIL:
        # concurrent batches would only contend for its lock.
        self._max_in_flight = settings.max_in_flight if is_http_uri(tracking_uri) else 1
        self._in_flight = 0  # batches handed to sender threads and not finished yet
        self._outbox: queue.SimpleQueue[SpoolBatch | None] = queue.SimpleQueue()
        self._senders: list[threading.Thread] = []
        self._warn_lock = threading.Lock()
        # One replay and its report at a time in this process (the thread's and a reader's
        # catch_up): the line saying the server is back is printed once, by the one that
        # sent the values, before any reader returns.
        self._replay_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="mltrack-logger", daemon=True)
        self._thread.start()
        # Replay leftovers from earlier processes in the background.
        self._replay_pending = not self.spool.is_empty()

    # -- producer side ------------------------------------------------------------------
    def log(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Queue one value; blocks only when ``max_queue`` values are already waiting."""
        if self._closed:
            raise MltrackError("the metric logger is closed (interpreter shutting down)")
        if step is None:
            step = self._steps[(run_id, key)]
            self._steps[(run_id, key)] = step + 1
        row = (run_id, key, float(value), timestamp or int(time.time() * 1000), int(step))
        with self._cond:
            while len(self._queue) >= self.settings.max_queue:
                self._cond.wait(0.1)
            if not self._queue:
                self._oldest = time.monotonic()
            self._queue.append(row)
            self._enqueued += 1
            if len(self._queue) > self.peak_queue:
                self.peak_queue = len(self._queue)
            if len(self._queue) >= self.settings.batch_size:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every value queued so far is sent or safely spooled.

        Returns:
            True when everything reached the server, False when some of it is spooled
            (or the timeout passed first).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            self._flush_requested = True
            self._cond.notify_all()
            while self._done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining if remaining is not None else 0.5)
            return self._done >= target and not (self._offline or self._replay_pending)

    def close(self, timeout: float = 30.0) -> None:
        """Flush and stop the thread; whatever cannot be sent stays in the spool."""
        if self._closed:
            return
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        if self._queue:  # the thread could not finish in time: keep the values on disk
            for batch in self._batches(self._drain(len(self._queue))):
                self.spool.write_batch(batch)

    @property
    def offline(self) -> bool:
        return self._offline

    # -- consumer side ------------------------------------------------------------------
    def _drain(self, limit: int) -> list[_Row]:
        rows: list[_Row] = []
        while self._queue and len(rows) < limit:
            rows.append(self._queue.popleft())
        return rows

    def _take(self, now: float) -> list[_Row]:
        """Rows to send now: only full batches, unless asked to flush or a value is due."""
        size = self.settings.batch_size
        urgent = self._flush_requested or self._closed
        due = bool(self._queue) and now - self._oldest >= self.settings.flush_interval_s
        limit = size * 10 if urgent or due else size * min(len(self._queue) // size, 10)
        rows = self._drain(limit)
        if not self._queue:
            self._flush_requested = False
        elif due:
            self._oldest = now  # what is left was queued later: it waits one more interval
        return rows

    def _run(self) -> None:
        interval = self.settings.flush_interval_s
        size = self.settings.batch_size
        while True:
            with self._cond:
                if not (self._flush_requested or self._closed) and len(self._queue) < size:
                    # Sleep until a batch is full, a flush is asked for, the oldest queued
                    # value is due, or (while offline) the server is to be probed again.
                    now = time.monotonic()
                    wait = interval
                    if self._queue:
                        wait = max(0.0, self._oldest + interval - now)
                    if self._offline:
                        wait = min(wait, max(0.0, self._next_probe - now))
                    self._cond.wait(wait)
                rows = self._take(time.monotonic())
                closing = self._closed
            for batch in self._batches(rows):
                self._dispatch(batch)
            self._maybe_reconnect()
            if closing and not self._queue:
                self._wait_idle()
                for _ in self._senders:
                    self._outbox.put(None)
                return

    def _batches(self, rows: list[_Row]) -> list[SpoolBatch]:
        """Rows grouped by run, in batches of at most ``batch_size`` values."""
        by_run: dict[str, list[tuple[str, float, int, int]]] = defaultdict(list)
        for run_id, key, value, ts, step in rows:
            by_run[run_id].append((key, value, ts, step))
        size = self.settings.batch_size
        return [
            SpoolBatch(run_id, metrics[start : start + size])
            for run_id, metrics in by_run.items()
            for start in range(0, len(metrics), size)
        ]

    def _dispatch(self, batch: SpoolBatch) -> None:
        """Send a batch from this thread, or hand it to a sender once one is free."""
        limit = self._max_in_flight
        if limit == 1:
            self._send_or_spool(batch)
            self._finished(batch, handed_off=False)
            return
        with self._cond:
            while self._in_flight >= limit:
                self._cond.wait()
            # An idle sender, or a new one (no thread can start: send it from here).
            if len(self._senders) > self._in_flight or self._start_sender():
                self._in_flight += 1
                self._outbox.put(batch)
                return
        self._send_or_spool(batch)
        self._finished(batch, handed_off=False)

    def _start_sender(self) -> bool:
        sender = threading.Thread(
            target=self._send_loop, name=f"mltrack-sender-{len(self._senders)}", daemon=True
        )
        try:
            sender.start()
        except RuntimeError:  # Python 3.12 starts no thread from an atexit handler
            return False
        self._senders.append(sender)
        return True

    def _send_loop(self) -> None:
        while (batch := self._outbox.get()) is not None:
            try:
                self._send_or_spool(batch)
            except Exception as exc:  # e.g. the spool's disk is full: say so, keep sending
                self.last_error = self._bare(str(exc))
                notice(
                    f"{len(batch.metrics)} metric values were neither sent nor spooled: "
                    f"{self.last_error}"
                )
            finally:
                self._finished(batch, handed_off=True)

    def _finished(self, batch: SpoolBatch, handed_off: bool) -> None:
        with self._cond:
            self._done += len(batch.metrics)
            if handed_off:
                self._in_flight -= 1
            self._cond.notify_all()

    def _wait_idle(self) -> None:
        """Wait until no batch is in flight (each ends sent or spooled: requests time out)."""
        with self._cond:
            while self._in_flight:
                self._cond.wait()

    def _send_or_spool(self, batch: SpoolBatch) -> None:
        if self._offline or batch.run_id.startswith(LOCAL_RUN_PREFIX) or self._replay_pending:
            self._spool(batch)
            return
        try:
            self.transport.send(batch)
        except ServerUnreachable as exc:
            self._spool(batch)
            self._go_offline(str(exc))
        except BatchRejected as exc:
            path = self.spool.write_batch(batch, rejected=True)  # kept for inspection
            self.last_error = self._bare(str(exc))
            notice(f"{self.last_error}; the batch is kept in {_shown_path(path)}")
        except Exception as exc:  # e.g. 401/403: keep the data, tell the user once
            self._spool(batch)
            self._go_offline(str(exc), unreachable=False)

    def _spool(self, batch: SpoolBatch) -> None:
        self.spool.write_batch(batch)
        with self._warn_lock:  # several senders spool at once when the server goes away
            self._spooled += batch.size()
            self._spooled_by_run[batch.run_id] += batch.size()

    def mark_offline(self, reason: str) -> None:
        """Treat the server as unreachable (e.g. a run had to start offline)."""
        self._go_offline(reason)

    def _go_offline(self, reason: str, unreachable: bool = True) -> None:
        self.last_error = self._bare(reason)
        self._offline = True
        self._next_probe = time.monotonic() + self.settings.retry_interval_s
        with self._warn_lock:
            if not self._problem or unreachable:
                self._problem = "" if unreachable else " ".join(self.last_error.split())

    # -- reports (one line each on stderr) -----------------------------------------------
    def _bare(self, text: str) -> str:
        """``text`` without the credentials a tracking URI may hold (``user:pw@host``):
        every error this logger keeps or reports goes through here."""
        bare = text.replace(self.tracking_uri, strip_userinfo(self.tracking_uri)[0])
        return redact_urls(bare)  # another URL quoted in an error, say

    def _outage_line(self, what: str, plural: bool = True) -> str:
        server = f"tracking server {strip_userinfo(self.tracking_uri)[0]}"
        trouble = "unreachable" if not self._problem else f"failed ({self._problem})"
        return (
            f"{server} {trouble}: {what} spooled to {_shown_path(self.spool.dir)}; "
            f"{'they' if plural else 'it'} will be sent when it is back"
        )

    def _announce(self) -> None:
        """Print the outage line once per outage, when something was spooled."""
        with self._warn_lock:
            if self._announced or not self._spooled or not self._offline:
                return
            self._announced = True
            line = self._outage_line(_values(self._spooled))
        notice(line)

    def report_run_spooled(self, run_id: str, run_name: str, status: str) -> None:
        """Say that a run's status, and the values of it that were spooled, wait in the spool."""
        with self._warn_lock:
            self._announced = True
            count = self._spooled_by_run.pop(run_id, 0)
            what = f"the status of run {run_name!r} ({status})"
            if count:
                what = f"{_values(count)} and {what}"
            line = self._outage_line(what, plural=bool(count))
        notice(line)

    def _replay_and_report(self) -> ReplayResult:
        with self._replay_lock:
            result = self.replay()
            with self._warn_lock:
                if result.remaining or self._offline:
                    return result
                announced, self._announced, self._spooled = self._announced, False, 0
                self._spooled_by_run.clear()
                self._problem = ""
            if announced:
                notice(
                    f"tracking server {strip_userinfo(self.tracking_uri)[0]} is back: {_sent(result)}"
                )
            return result

    # -- reconnecting --------------------------------------------------------------------
    def _maybe_reconnect(self) -> None:
        if not (self._offline or self._replay_pending):
            return
        if self._offline and time.monotonic() < self._next_probe:
            return
        # Batches still in flight end up sent or spooled; replay once they have.
        self._wait_idle()
        if not self.transport.is_reachable():
            self._next_probe = time.monotonic() + self.settings.retry_interval_s
            self._announce()
            return
        try:
            self._replay_and_report()
        except (ServerUnreachable, TrackingServerError) as exc:  # 401/403 too: keep spooling
            self._go_offline(str(exc), unreachable=isinstance(exc, ServerUnreachable))
            self._announce()

    def catch_up(self, timeout: float | None = None) -> bool:
        """Flush, and when data waits in the spool and the server answers, replay it now.

        Reading a run back right after the server returned must not wait for the
        thread's next probe (``retry_interval_s``), nor see half of a replay.

        Returns:
            True when everything logged so far is on the server.
        """
        if self.flush(timeout):
            with self._replay_lock:  # a replay that just ended has printed its report
                return True
        if not (self._offline or self._replay_pending):
            return False  # the timeout passed first
        self._wait_idle()
        if not self.transport.is_reachable():
            return False
        try:
            self._replay_and_report()
        except (ServerUnreachable, TrackingServerError) as exc:
            self._go_offline(str(exc), unreachable=isinstance(exc, ServerUnreachable))
            return False
        return not (self._offline or self._replay_pending)

    def replay(self) -> ReplayResult:
        """Send the spool now (used on reconnect and by ``ml sync``)."""
        result = self.spool.replay(self.transport, rejected_error=BatchRejected)
        self._replay_pending = result.remaining > 0
        self._offline = False
        return result


def _sent(result: ReplayResult) -> str:
    """What a replay sent, in words."""
    ended = result.runs_finished
    if not (result.values_sent or ended or result.runs_created):
        return "its spool was sent by another process (`ml sync`)"
    statuses = f" and the status of {ended} run{'s' if ended != 1 else ''}" if ended else ""
    return f"sent the {_values(result.values_sent, 'spooled ')}{statuses}"


def _values(count: int, adjective: str = "") -> str:
    return f"{count:,} {adjective}value{'s' if count != 1 else ''}"


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when under it (shorter, no home dir)."""
    try:
        resolved, cwd = Path(path).resolve(), Path.cwd().resolve()
    except OSError:  # the working directory is gone
        return str(path)
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(path)


_loggers: dict[str, BufferedLogger] = {}
_loggers_lock = threading.Lock()


def spool_root() -> Path:
    """The spool directory from settings (default ``.mltrack/spool`` in the project)."""
    settings = load_settings()
    if settings.logging.spool_dir:
        return Path(settings.logging.spool_dir).expanduser()
    return settings.project_root / ".mltrack" / "spool"


def get_logger(tracking_uri: str | None = None) -> BufferedLogger:
    """The process-wide logger for ``tracking_uri`` (default: MLflow's current URI)."""
    if tracking_uri is None:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    with _loggers_lock:
        logger = _loggers.get(tracking_uri)
        if logger is None or logger._closed:
            settings = load_settings()
            logger = BufferedLogger(tracking_uri, settings.logging, spool_root())
            _loggers[tracking_uri] = logger
        return logger


def _current_run_id() -> str:
    handle = current_run()
    if handle is not None:
        return handle.id
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        return str(active.info.run_id)
    # The run this process was started for: `ml train` names it so (a spooled `local-…`
    # run when its server was unreachable), and MLflow's own calls resume it too.
    named = os.environ.get("MLFLOW_RUN_ID")
    if named:
        return named
    raise MltrackError(
        "no active run: call log_metric inside @mltrack.track or `with mltrack.run():`, "
        "or pass run_id="
    )


def _current_uri() -> str:
    handle = current_run()
    if handle is not None:
        return handle.tracking_uri
    import mlflow

    return str(mlflow.get_tracking_uri())


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    *,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    """Log one metric value through the buffered logger (returns immediately).

    Args:
        key: metric name.
        value: the value (anything ``float()`` accepts).
        step: training step; default: the next step for this key in this run.
        run_id: run to log to; default: the current mltrack (or MLflow) run.
        timestamp: milliseconds since the epoch; default: now.

    Raises:
        MltrackError: there is no active run and no ``run_id``.
    """
    rid = run_id or _current_run_id()
    get_logger(_current_uri() if run_id is None else None).log(rid, key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    *,
    run_id: str | None = None,
) -> None:
    """Log several metrics at once (same step and timestamp). See :func:`log_metric`."""
    rid = run_id or _current_run_id()
    logger = get_logger(_current_uri() if run_id is None else None)
    timestamp = int(time.time() * 1000)
    for key, value in metrics.items():
        logger.log(rid, key, value, step, timestamp)


def flush(timeout: float | None = None) -> bool:
    """Send everything queued in this process now; True when all of it reached a server."""
    ok = True
    for logger in list(_loggers.values()):
        ok = logger.flush(timeout) and ok
    return ok


def catch_up(timeout: float | None = None) -> bool:
    """:func:`flush`, then replay the spools whose server answers again (read-after-write).

    Returns:
        True when everything logged in this process is on its server.
    """
    ok = True
    for logger in list(_loggers.values()):
        ok = logger.catch_up(timeout) and ok
    return ok


@atexit.register
def _close_all() -> None:
    for logger in list(_loggers.values()):
        logger.close()
        # A run whose status alone is spooled was reported when it ended.
        pending = logger.spool.pending_values()
        if pending:
            server = f"tracking server {strip_userinfo(logger.tracking_uri)[0]}"
            state = "still unreachable at exit" if logger.offline else "not reached in time"
            notice(
                f"{server} {state}: {_values(pending)} wait in {_shown_path(logger.spool.dir)}; "
                "run `ml sync` to send them"
            )
