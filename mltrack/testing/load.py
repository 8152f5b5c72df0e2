"""Concurrent metric writers for the team-server reliability tests and benchmark.

Each writer is a separate process (``python -m mltrack.testing.load``, a fork of a
:class:`~mltrack._forkserver.ForkServer` when ``env`` names one) that logs
``--values`` metric values through mltrack's buffered logger (queue, background
``log_batch``, disk spool while the server is down, replay) into one run, waits until
every value reached the server, and prints one JSON line with its run name and timings.

With a *barrier* folder, each writer creates its run, reports ready there and starts
logging only once :func:`release` says go, so a throughput measurement covers the time
all writers log together, not their staggered start-up (importing MLflow in 8 processes
at once takes seconds).

Values are unique per writer and step (``writer * 1e6 + step + 0.25``), so the receiving
database can be checked for "every value exactly once" with a count and a checksum:
:func:`expected_checksum`.

:func:`log_batch_bodies` and :func:`post_log_batches` send the same kind of values
straight to a server's REST API from threads, without mltrack's logger: what a server
takes at a given concurrency.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "WriterResult",
    "collect",
    "expected_checksum",
    "log_batch_bodies",
    "post_log_batches",
    "release",
    "run_writers",
    "value",
]

METRIC_KEY = "load"


def value(writer: int, step: int) -> float:
    """The value writer ``writer`` logs at ``step`` (exact in binary floating point)."""
    return writer * 1_000_000 + step + 0.25


def expected_checksum(writer: int, n: int) -> float:
    """Sum of every value one writer logs."""
    return sum(value(writer, step) for step in range(n))


def log_batch_bodies(run_ids: list[str], values: int, batch: int) -> list[str]:
    """JSON bodies of ``log_batch`` calls: ``values`` values per run, ``batch`` per call.

    Run ``i`` gets the values writer ``i`` would log (:func:`value`), under
    :data:`METRIC_KEY`.
    """
    return [
        json.dumps(
            {
                "run_id": run_id,
                "metrics": [
                    {"key": METRIC_KEY, "value": value(writer, step), "timestamp": 1, "step": step}
                    for step in range(start, min(start + batch, values))
                ],
            }
        )
        for writer, run_id in enumerate(run_ids)
        for start in range(0, values, batch)
    ]


def post_log_batches(
    url: str, bodies: list[str], concurrency: int, together: bool = False
) -> list[tuple[int, str]]:
    """POST ``log_batch`` bodies from ``concurrency`` threads, one keep-alive connection each.

    Args:
        url: the tracking server's base URL (no auth).
        bodies: request bodies, e.g. from :func:`log_batch_bodies`.
        concurrency: threads posting at once.
        together: every thread's first call waits until all threads have one ready, so
            ``concurrency`` calls reach the server at once (needs as many bodies).

    Returns:
        ``(status, response text)`` per body, in the order of ``bodies``.
    """
    import http.client
    import threading
    import urllib.parse
    from concurrent.futures import ThreadPoolExecutor

    parts = urllib.parse.urlsplit(url)
    local = threading.local()
    start = threading.Barrier(concurrency) if together else None

    def post(body: str) -> tuple[int, str]:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(parts.netloc, timeout=120)
            if start is not None:
                start.wait()
        local.conn.request(
            "POST", "/api/2.0/mlflow/runs/log-batch", body, {"Content-Type": "application/json"}
        )
        response = local.conn.getresponse()
        return response.status, response.read().decode(errors="replace")

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(post, bodies))


@dataclass
class WriterResult:
    """What one writer process reported."""

    writer: int
    run_name: str
    run_id: str
    started: float  # epoch seconds when logging began
    delivered: float  # epoch seconds when the server had every value
    returncode: int
    output: str


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writer", type=int, required=True)
    parser.add_argument("--values", type=int, default=2000)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--run-name", required=True)
    parser.add_argument("--chunk", type=int, default=0, help="sleep --pause after each chunk")
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--deliver-timeout", type=float, default=120.0)
    parser.add_argument("--barrier", type=Path, help="report ready here, wait for go")
    args = parser.parse_args(argv)

    import mltrack
    from mltrack.logging import get_logger

    with mltrack.run(args.run_name, experiment=args.experiment, log_git=False, autolog=False) as r:
        logger = get_logger(r.tracking_uri)
        if args.barrier:
            _wait_for_go(args.barrier, args.writer, args.deliver_timeout)
        started = time.time()
        for step in range(args.values):
            mltrack.log_metric(METRIC_KEY, value(args.writer, step), step=step)
            if args.chunk and (step + 1) % args.chunk == 0 and args.pause:
                time.sleep(args.pause)  # paces the load so a restart lands in its middle
        _wait_delivered(logger, args.deliver_timeout)
    # The run's end may itself have been spooled if the server was down at that moment.
    _wait_delivered(logger, args.deliver_timeout)
    delivered = time.time()
    print(json.dumps({"run_id": r.id, "started": started, "delivered": delivered}), flush=True)
    return 0


def _wait_for_go(barrier: Path, writer: int, timeout: float) -> None:
    (barrier / f"ready-{writer}").touch()
    deadline = time.monotonic() + timeout
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"writer {writer}: no go after {timeout:.0f} s")
        time.sleep(0.002)


def release(barrier: Path, count: int, procs: list[subprocess.Popen[str]], timeout: float) -> None:
    """Wait until ``count`` writers are ready at ``barrier``, then let them all start.

    Raises:
        SystemExit: a writer exited or not all were ready within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while len(list(barrier.glob("ready-*"))) < count:
        exited = sum(p.poll() is not None for p in procs)
        if exited or time.monotonic() > deadline:
            (barrier / "go").touch()  # anyone still waiting goes, so collect() reports
            raise SystemExit(f"writers not ready after {timeout:.0f} s (exited: {exited})")
        time.sleep(0.01)
    (barrier / "go").touch()


def _wait_delivered(logger: object, timeout: float) -> None:
    from mltrack.logging import BufferedLogger

    assert isinstance(logger, BufferedLogger)
    deadline = time.monotonic() + timeout
    while True:
        if logger.flush(timeout=5) and logger.spool.is_empty():
            return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"not delivered after {timeout:.0f} s: {logger.spool.pending_values()} values "
                f"spooled, last error: {logger.last_error}"
            )
        time.sleep(0.2)


def run_writers(
    count: int,
    values: int,
    experiment: str,
    env: Mapping[str, str],
    workdir: Path,
    chunk: int = 0,
    pause: float = 0.0,
    timeout: float = 240.0,
    barrier: Path | None = None,
) -> tuple[list[subprocess.Popen[str]], list[str]]:
    """Start ``count`` writer processes (each in its own working directory); do not wait.

    With ``barrier`` (an existing folder) the writers wait for :func:`release`.

    Returns:
        The processes and their run names (writer ``i`` logs into run ``names[i]``).
    """
    procs = []
    names = []
    for writer in range(count):
        cwd = workdir / f"writer-{writer}"
        cwd.mkdir(parents=True, exist_ok=True)
        name = f"writer-{writer}"
        cmd = [
            sys.executable,
            "-m",
            "mltrack.testing.load",
            "--writer",
            str(writer),
            "--values",
            str(values),
            "--experiment",
            experiment,
            "--run-name",
            name,
            "--chunk",
            str(chunk),
            "--pause",
            str(pause),
            "--deliver-timeout",
            str(timeout),
            *(["--barrier", str(barrier)] if barrier else []),
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=cwd,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
        names.append(name)
    return procs, names


def collect(
    procs: list[subprocess.Popen[str]], names: list[str], timeout: float = 300.0
) -> list[WriterResult]:
    """Wait for every writer (killing all of them if one hangs) and parse their reports."""
    deadline = time.monotonic() + timeout
    results = []
    try:
        for writer, (proc, name) in enumerate(zip(procs, names, strict=True)):
            remaining = max(1.0, deadline - time.monotonic())
            output, _ = proc.communicate(timeout=remaining)
            report: dict[str, float | str] = {}
            for line in reversed(output.strip().splitlines()):
                if line.startswith("{"):
                    report = json.loads(line)
                    break
            results.append(
                WriterResult(
                    writer=writer,
                    run_name=name,
                    run_id=str(report.get("run_id", "")),
                    started=float(report.get("started", 0.0)),
                    delivered=float(report.get("delivered", 0.0)),
                    returncode=int(proc.returncode),
                    output=output[-2000:],
                )
            )
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the writer and anything it started
                proc.wait()
    return results


if __name__ == "__main__":
    from mltrack._forkserver import run_via_forkserver

    # With MLTRACK_FORKSERVER set (the tests), a fork of a process that has imported
    # MLflow runs the writer: 8 fresh interpreters would spend ~30 CPU-s importing it.
    run_via_forkserver("mltrack.testing.load")
    sys.exit(_main())
