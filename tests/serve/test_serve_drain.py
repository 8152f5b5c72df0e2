"""SIGTERM under load: `ml ship --local` answers every request, then exits 143.

The clients act as a load balancer does: they poll ``/ready`` and send no new request once
it stops answering 200. Real uvicorn, real clients on loopback; not timed (the load
figures are in scripts/bench/serving.py).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time

import pytest

from mltrack.localserver import ThrowawayServer, free_port, wait_healthy
from tests._helpers import start_ml

TOKEN = "drain-token-0123456789abcdef"
CLIENTS = 16


@pytest.mark.slow
def test_sigterm_under_load_finishes_in_flight_requests_and_exits_143(
    mlflow_server: ThrowawayServer, served_models, tmp_path
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_")},
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "MLTRACK_API_TOKEN": TOKEN,
        "PYTHONWARNINGS": "ignore",
    }
    proc = start_ml(
        "ship", served_models.plain, "--local", "--port", str(port), cwd=tmp_path, env=env
    )
    row = {"a": 0.5, "b": -1.0, "c": 2.0, "n": 3}
    bodies = [  # valid and bad bodies, a large one keeps requests in flight at the signal
        (json.dumps({"records": [row] * 2000}).encode(), 200),
        (json.dumps({"records": [{**row, "a": None}]}).encode(), 422),
        (b'[{"a": NaN, "b": 1, "c": 1, "n": 1}]', 422),
        (json.dumps([row]).encode(), 200),
    ]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    lock = threading.Lock()
    seen = {"answered": 0, "wrong": 0, "dropped": 0, "refused": 0, "after_signal": 0}
    signalled = threading.Event()
    kinds: list[str] = []
    stop = threading.Event()

    def probe() -> None:  # the load balancer's readiness probe
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/ready")
                ready = conn.getresponse().status == 200
            except (OSError, http.client.HTTPException):
                ready = False
            finally:
                conn.close()
            if not ready and signalled.is_set():
                stop.set()
            time.sleep(0.05)

    def client(index: int) -> None:
        i = index
        while not stop.is_set():
            body, expected = bodies[i % len(bodies)]
            i += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.connect()
            except OSError:  # the listener is closed: the request was never accepted
                with lock:
                    seen["refused"] += 1
                time.sleep(0.02)
                continue
            was_signalled = signalled.is_set()
            try:
                conn.request("POST", "/predict/batch", body, headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    seen["dropped"] += 1
                    kinds.append(f"{type(exc).__name__} sent_before_signal={not was_signalled}")
                continue
            finally:
                conn.close()
            with lock:
                seen["answered"] += 1
                seen["wrong"] += response.status != expected
                seen["after_signal"] += signalled.is_set() and not was_signalled

    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout=120, proc=proc, path="/ready")
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        threads.append(threading.Thread(target=probe))
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        signalled.set()
        os.killpg(proc.pid, signal.SIGTERM)  # `ml` and its keeper (which ignores it)
        for thread in threads:
            thread.join(timeout=60)
        output, _ = proc.communicate(timeout=60)
    finally:
        stop.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, output[-2000:]
    assert "Traceback" not in output
    assert seen["answered"] > 20 and stop.is_set(), seen
    assert seen["after_signal"] > 0, seen  # some requests were in flight at the signal
    assert seen["dropped"] == 0 and seen["wrong"] == 0, (seen, kinds)
