"""The buffered logger keeps several batches in flight, and retries an overloaded server.

How many batches are in flight is the logger's own logic: an in-memory server that holds
each batch 50 ms counts the overlap. The retry is about MLflow's real answer: the logger
talks to the session's MLflow server through a small proxy on 127.0.0.1 that answers the
first requests the way MLflow does when its database connection pool is exhausted.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mltrack.config import LoggingSettings
from mltrack.localserver import ThrowawayServer
from mltrack.logging import BufferedLogger
from tests.core._memory_sender import MemorySender

# What MLflow 3.17 answers when SQLAlchemy's pool has no free connection.
POOL_EXHAUSTED = {
    "error_code": "BAD_REQUEST",
    "message": "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
}


class RecordingProxy:
    """Forwards every request to MLflow; records how many log-batch requests overlap."""

    def __init__(self, upstream: str, hold_s: float = 0.05, fail_first: int = 0) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.hold_s = hold_s
        self.fail_first = fail_first
        self.active = 0
        self.peak = 0
        self.batches = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _forward(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            conn.request(method, path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest's output clean
                pass

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply(*proxy._forward("GET", self.path, None))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.endswith("/runs/log-batch"):
                    self._reply(*proxy._forward("POST", self.path, body))
                    return
                with proxy._lock:
                    proxy.batches += 1
                    refuse = proxy.failed < proxy.fail_first
                    proxy.failed += refuse
                    proxy.active += 1
                    proxy.peak = max(proxy.peak, proxy.active)
                try:
                    time.sleep(proxy.hold_s)
                    if refuse:
                        answer = (400, json.dumps(POOL_EXHAUSTED).encode())
                    else:
                        answer = proxy._forward("POST", self.path, body)
                finally:
                    # Before the reply: once the client has it, it may send the next
                    # batch before this thread runs again (the peak would count both).
                    with proxy._lock:
                        proxy.active -= 1
                self._reply(*answer)

        return Handler

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture()
def run_id(mlflow_server: ThrowawayServer, experiment: str) -> str:
    client = MlflowClient(mlflow_server.url)
    return str(client.create_run(client.create_experiment(experiment)).info.run_id)


def _log(logger: BufferedLogger, run_id: str, n: int) -> None:
    try:
        for step in range(n):
            logger.log(run_id, "v", step + 0.5, step=step)
        assert logger.flush(timeout=60), f"not delivered: {logger.last_error}"
    finally:
        logger.close()


def _arrived(url: str, run_id: str) -> list[float]:
    return sorted(m.value for m in MlflowClient(url).get_metric_history(run_id, "v"))


@pytest.mark.parametrize("max_in_flight", [1, 4])
def test_batches_in_flight_are_bounded_by_the_setting(tmp_path: Path, max_in_flight: int) -> None:
    sender = MemorySender(hold_s=0.05)
    settings = LoggingSettings(batch_size=10, max_in_flight=max_in_flight)
    logger = BufferedLogger("http://memory.invalid", settings, tmp_path / "spool", sender)
    _log(logger, "run-a", 400)
    assert sender.sizes() == [10] * 40
    # 40 sends held 50 ms each: with 4 allowed, they overlap; never more than allowed.
    assert sender.peak == max_in_flight
    assert sorted(sender.steps("run-a")) == list(range(400))
    assert logger.spool.is_empty()


def test_an_exhausted_connection_pool_is_retried_not_rejected(
    mlflow_server: ThrowawayServer, run_id: str, tmp_path: Path
) -> None:
    settings = LoggingSettings(batch_size=10, max_in_flight=4, retry_interval_s=0.2)
    with RecordingProxy(mlflow_server.url, hold_s=0.0, fail_first=3) as proxy:
        logger = BufferedLogger(proxy.url, settings, tmp_path / "spool")
        logger.log(run_id, "v", 0.5, step=0)
        for step in range(1, 100):
            logger.log(run_id, "v", step + 0.5, step=step)
        deadline = time.monotonic() + 60
        while not (logger.flush(timeout=5) and logger.spool.is_empty()):
            assert time.monotonic() < deadline, f"never replayed: {logger.last_error}"
            time.sleep(0.1)
        logger.close()
    assert proxy.failed == 3
    assert "QueuePool limit" in str(logger.last_error)  # spooled as a server trouble
    assert not list((tmp_path / "spool").glob("*/rejected/*.json"))  # nothing put aside
    assert _arrived(mlflow_server.url, run_id) == [step + 0.5 for step in range(100)]


def test_batches_are_sent_from_the_logger_thread_when_no_sender_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.12 refuses to start threads from atexit handlers, where the last values of
    # a short script are sent; this interpreter (3.11) would start them, so the refusal is
    # reproduced here for the sender threads alone.
    start = threading.Thread.start

    def refuse_senders(thread: threading.Thread) -> None:
        if thread.name.startswith("mltrack-sender"):
            raise RuntimeError("can't create new thread at interpreter shutdown")
        start(thread)

    sender = MemorySender()
    settings = LoggingSettings(batch_size=10, max_in_flight=4)
    logger = BufferedLogger("http://memory.invalid", settings, tmp_path / "spool", sender)
    monkeypatch.setattr(threading.Thread, "start", refuse_senders)
    _log(logger, "run-a", 95)
    assert not logger._senders and sender.peak == 1
    assert sorted(sender.steps("run-a")) == list(range(95))


def test_a_store_inside_the_process_gets_one_batch_at_a_time(tmp_path: Path) -> None:
    # A sqlite file has one writer, and the store runs under this process's GIL: sender
    # threads would only contend for its lock.
    sender = MemorySender(hold_s=0.01)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    logger = BufferedLogger(
        uri, LoggingSettings(batch_size=10, max_in_flight=4), tmp_path / "s", sender
    )
    _log(logger, "run-a", 100)
    assert not logger._senders and sender.peak == 1
    assert sender.steps("run-a") == list(range(100))  # one at a time: in order, too
