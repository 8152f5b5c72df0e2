"""Serving benchmark: mltrack's model server vs ``mlflow models serve`` on the same model.

One run, same machine, same sklearn model directory, one uvicorn worker each, no auth
on either side (MLflow's scoring server has none):

* cold start: from launching the server process to the first successful prediction;
* single-row latency: p50/p99 of sequential requests on a keep-alive connection;
* throughput: requests per second with 8 concurrent clients (one connection each).

The servers run one after the other (never at once) so they do not share the CPU, and
the latency/throughput phases alternate A/B/A/B to spread machine noise over both.

Then mltrack alone, with a bearer token (issue 21):

* load: 32 concurrent clients for 30 s sending a mix of valid bodies and bad ones (null,
  NaN, Infinity, ``1e309``, 100,000 nested ``[``, ``[]``, malformed JSON, wrong types):
  counts 5xx answers, answers other than 200 for valid / 4xx for bad bodies, dropped
  connections, and the p99 latency;
* drain: the same load, one connection per request, and SIGTERM to the server after 3 s;
  the clients act as a load balancer (they poll ``/ready`` and send nothing new once it
  stops answering 200): every request sent must be answered, and the process exits 0 or
  143.
Prints one JSON object as the last line (see /work/shared/BENCHMARKS.md).
"""

from __future__ import annotations

import _common  # noqa: F401  (first: takes this folder off sys.path; temp root)

# isort: split

import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from mltrack.localserver import free_port

LOAD_SECONDS = 30.0
LOAD_CLIENTS = 32
DRAIN_AFTER_S = 3.0
TOKEN = "bench-token-0123456789abcdef"
LATENCY_REQUESTS = 600
WARMUP_REQUESTS = 100
THROUGHPUT_SECONDS = 8.0
CLIENTS = 8
ROUNDS = 2
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def make_model(root: Path) -> Path:
    """Train a small classifier on iris-like synthetic data and save it as an MLflow model."""
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(42)
    frame = pd.DataFrame(rng.normal(3, 1, size=(300, 4)), columns=list(ROW))
    target = (frame["petal_length"] > 3).astype(int) + (frame["petal_width"] > 3.5).astype(int)
    model = LogisticRegression(max_iter=500).fit(frame, target)
    path = root / "model"
    mlflow.sklearn.save_model(model, str(path), input_example=frame.head(2))
    return path


class Server:
    """A model server process in its own group, with the request path and body it takes."""

    def __init__(
        self, name: str, cmd: list[str], path: str, body: bytes, env: dict[str, str]
    ) -> None:
        self.name, self.cmd, self.path, self.body, self.env = name, cmd, path, body, env
        self.port = (
            int(cmd[cmd.index("--port") + 1]) if "--port" in cmd else int(cmd[cmd.index("-p") + 1])
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}  # sent with the readiness probe

    def start(self) -> float:
        """Launch and return seconds until the first successful prediction."""
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = started + 180
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request(
                    "POST",
                    self.path,
                    self.body,
                    {"Content-Type": "application/json", **self.headers},
                )
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status == 200:
                    return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not answer a prediction within 180 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def _post(self, conn: http.client.HTTPConnection) -> None:
        conn.request("POST", self.path, self.body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{self.name} answered {response.status}")

    def latencies(self, count: int) -> list[float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for _ in range(WARMUP_REQUESTS):
            self._post(conn)
        out = []
        for _ in range(count):
            start = time.perf_counter()
            self._post(conn)
            out.append(time.perf_counter() - start)
        conn.close()
        return out

    def throughput(self, seconds: float, clients: int) -> tuple[float, int]:
        """(requests per second, errors) with ``clients`` concurrent keep-alive clients."""
        counts = [0] * clients
        errors = [0] * clients
        barrier = threading.Barrier(clients + 1)
        stop_at = [0.0]

        def worker(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            barrier.wait()
            while time.perf_counter() < stop_at[0]:
                try:
                    self._post(conn)
                    counts[index] += 1
                except (OSError, RuntimeError, http.client.HTTPException):
                    errors[index] += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        stop_at[0] = time.perf_counter() + seconds
        start = time.perf_counter()
        barrier.wait()
        for thread in threads:
            thread.join()
        return sum(counts) / (time.perf_counter() - start), sum(errors)


def mixed_bodies() -> list[tuple[bytes, bool]]:
    """(body, valid) pairs: one in three valid, the rest each a different bad request."""
    names = list(ROW)
    good = [
        {"records": [ROW]},
        [ROW, ROW],
        {"split": {"columns": names, "data": [list(ROW.values())]}},
        {"columns": {k: [v, v] for k, v in ROW.items()}},
    ]
    bad_json = [
        {"records": [{**ROW, "sepal_width": None}]},
        {"records": [{**ROW, "petal_width": "wide"}]},
        {"records": [{**ROW, "colour": 1}]},
        {"split": {"data": [list(ROW.values())]}},
        {"columns": {k: [] for k in ROW}},
        [],
    ]
    raw = [
        b'{"records": [{"sepal_length": NaN, "sepal_width": 1, "petal_length": 1, "petal_width": 1}]}',
        b'[{"sepal_length": 1, "sepal_width": Infinity, "petal_length": 1, "petal_width": 1}]',
        b'{"columns": {"sepal_length": [1e309], "sepal_width": [1], "petal_length": [1], '
        b'"petal_width": [-Infinity]}}',
        b"[" * 100_000,
        b'{"records": [',
        b"",
    ]
    bodies = [(json.dumps(b).encode(), True) for b in good]
    bodies += [(json.dumps(b).encode(), False) for b in bad_json] + [(b, False) for b in raw]
    return bodies + [(json.dumps(b).encode(), True) for b in good * 2]  # 1/2 valid overall


def load_mix(port: int, seconds: float, clients: int, fresh: bool = False) -> dict[str, Any]:
    """Send the mixed bodies from ``clients`` threads; count what went wrong.

    Args:
        fresh: the drain phase: one connection per request, and no new request once
            ``/ready`` stops answering 200 (as a load balancer does).
    """
    bodies = mixed_bodies()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    lock = threading.Lock()
    totals = {"requests": 0, "5xx": 0, "unexpected": 0, "dropped": 0, "refused": 0}
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    not_ready = threading.Event()

    def probe() -> None:
        while time.perf_counter() < stop_at and not not_ready.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/ready")
                if conn.getresponse().status != 200:
                    not_ready.set()
            except (OSError, http.client.HTTPException):
                not_ready.set()
            finally:
                conn.close()
            time.sleep(0.05)

    def worker(index: int) -> None:
        mine = dict.fromkeys(totals, 0)
        took: list[float] = []
        conn = None
        i = index
        while time.perf_counter() < stop_at and not not_ready.is_set():
            body, valid = bodies[i % len(bodies)]
            i += 1
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.connect()
                except ConnectionRefusedError:
                    mine["refused"] += 1  # the listener is closed: never accepted
                    conn = None
                    time.sleep(0.01)
                    continue
            start = time.perf_counter()
            try:
                conn.request("POST", "/predict", body, headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                mine["dropped"] += 1  # accepted, then no answer
                conn.close()
                conn = None
                continue
            took.append(time.perf_counter() - start)
            mine["requests"] += 1
            status = response.status
            mine["5xx"] += status >= 500
            mine["unexpected"] += (status != 200) if valid else not 400 <= status < 500
            if fresh or response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            for key, value in mine.items():
                totals[key] += value
            latencies.extend(took)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    if fresh:
        threads.append(threading.Thread(target=probe))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    p99 = percentile(latencies, 0.99) * 1000 if latencies else 0.0
    return {**totals, "p99_ms": round(p99, 2), "rps": round(totals["requests"] / seconds, 1)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mltrack-bench-serving-"))
    servers: list[Server] = []
    try:
        model = make_model(root)
        env = {
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        }
        env = {k: v for k, v in env.items() if not k.startswith("MLTRACK_")}
        # `mlflow models serve` runs `uvicorn` from PATH: the venv's, also when not activated.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        body = json.dumps({"dataframe_records": [ROW]}).encode()
        mlflow_bin = str(Path(sys.executable).parent / "mlflow")
        ours = Server(
            "mltrack",
            [
                sys.executable,
                "-m",
                "mltrack.serve",
                str(model),
                "--no-auth",
                "--port",
                str(free_port()),
            ],
            "/predict",
            body,
            env,
        )
        theirs = Server(
            "mlflow",
            [
                mlflow_bin,
                "models",
                "serve",
                "-m",
                str(model),
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "-p",
                str(free_port()),
                "--workers",
                "1",
            ],  # fmt: skip
            "/invocations",
            body,
            env,
        )
        servers = [ours, theirs]
        raw: dict[str, dict[str, list[float]]] = {
            s.name: {"cold": [], "lat": [], "rps": [], "err": []} for s in servers
        }
        for _ in range(ROUNDS):
            for server in servers:
                raw[server.name]["cold"].append(server.start())
                raw[server.name]["lat"] += server.latencies(LATENCY_REQUESTS // ROUNDS)
                rps, errors = server.throughput(THROUGHPUT_SECONDS / ROUNDS, CLIENTS)
                raw[server.name]["rps"].append(rps)
                raw[server.name]["err"].append(errors)
                server.stop()
        body = json.dumps({"dataframe_records": [ROW]}).encode()
        auth_env = {**env, "MLTRACK_API_TOKEN": TOKEN}
        guarded = Server(
            "mltrack-auth",
            [sys.executable, "-m", "mltrack.serve", str(model), "--port", str(free_port())],
            "/predict",
            body,
            auth_env,
        )
        guarded.headers = {"Authorization": f"Bearer {TOKEN}"}
        servers.append(guarded)
        guarded.start()
        load = load_mix(guarded.port, LOAD_SECONDS, LOAD_CLIENTS)
        guarded.stop()
        guarded.start()
        assert guarded.proc is not None
        stopper = threading.Timer(
            DRAIN_AFTER_S,
            lambda: os.killpg(guarded.proc.pid, signal.SIGTERM),  # type: ignore[union-attr]
        )
        stopper.start()
        drain = load_mix(guarded.port, DRAIN_AFTER_S + 5, LOAD_CLIENTS, fresh=True)
        stopper.join()
        drain["exit_code"] = guarded.proc.wait(timeout=60)
        summary = {}
        for name, data in raw.items():
            summary[name] = {
                "p50_ms": percentile(data["lat"], 0.50) * 1000,
                "p99_ms": percentile(data["lat"], 0.99) * 1000,
                "rps": statistics.mean(data["rps"]),
                "cold_start_s": statistics.median(data["cold"]),
                "errors": int(sum(data["err"])),
            }
        m, f = summary["mltrack"], summary["mlflow"]
        results = [
            {
                "name": "p50_latency_ratio_vs_mlflow",
                "value": round(m["p50_ms"] / f["p50_ms"], 3),
                "unit": "x",
                "goal": "<= 1",
            },
            {
                "name": "throughput_ratio_vs_mlflow",
                "value": round(m["rps"] / f["rps"], 3),
                "unit": "x",
                "goal": ">= 1.5",
            },
            {
                "name": "p99_latency_ratio_vs_mlflow",
                "value": round(m["p99_ms"] / f["p99_ms"], 3),
                "unit": "x",
            },
            {
                "name": "cold_start_ratio_vs_mlflow",
                "value": round(m["cold_start_s"] / f["cold_start_s"], 3),
                "unit": "x",
            },
        ]
        results += [
            {"name": "load_5xx", "value": load["5xx"], "unit": "count", "goal": "<= 0"},
            {"name": "load_dropped", "value": load["dropped"], "unit": "count", "goal": "<= 0"},
            {"name": "load_unexpected_status", "value": load["unexpected"], "unit": "count", "goal": "<= 0"},
            {"name": "load_p99_ms", "value": load["p99_ms"], "unit": "ms"},
            {"name": "drain_failed_in_flight", "value": drain["dropped"] + drain["5xx"], "unit": "count", "goal": "<= 0"},
            {"name": "drain_exit_code_ok", "value": int(drain["exit_code"] in (0, 143)), "unit": "bool", "goal": ">= 1"},
        ]  # fmt: skip
        print(
            f"load  {LOAD_CLIENTS} clients {LOAD_SECONDS:.0f} s mixed bodies: {load}",
            file=sys.stderr,
        )
        print(f"drain SIGTERM after {DRAIN_AFTER_S:.0f} s under load: {drain}", file=sys.stderr)
        for name, values in summary.items():
            print(
                f"{name:8s} p50 {values['p50_ms']:.2f} ms  p99 {values['p99_ms']:.2f} ms  "
                f"{values['rps']:.0f} req/s ({CLIENTS} clients)  cold start {values['cold_start_s']:.2f} s  "
                f"errors {values['errors']}",
                file=sys.stderr,
            )
        rounded = {
            n: {k: round(v, 4) if isinstance(v, float) else v for k, v in s.items()}
            for n, s in summary.items()
        }
        print(
            json.dumps(
                {
                    "bench": "serving",
                    "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                    "results": results,
                    "raw": {
                        **rounded,
                        "clients": CLIENTS,
                        "rounds": ROUNDS,
                        "workers": 1,
                        "load": {**load, "clients": LOAD_CLIENTS, "seconds": LOAD_SECONDS},
                        "drain": drain,
                    },
                }
            )
        )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
