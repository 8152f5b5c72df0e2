"""Serving benchmark: mltrack's model server vs ``mlflow models serve`` on the same model.

One run, same machine, same sklearn model directory, one uvicorn worker each, no auth
on either side (MLflow's scoring server has none):

* cold start: from launching the server process to the first successful prediction;
* single-row latency: p50/p99 of sequential requests on a keep-alive connection;
* throughput: requests per second with 8 concurrent clients (one connection each).

The servers run one after the other (never at once) so they do not share the CPU, and
the latency/throughput phases alternate A/B/A/B to spread machine noise over both.
Prints one JSON object as the last line (see /work/shared/BENCHMARKS.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a benchmark named logging.py: keep it from shadowing the stdlib module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import contextlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from mltrack.localserver import free_port  # noqa: E402

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
                conn.request("POST", self.path, self.body, {"Content-Type": "application/json"})
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
                    "raw": {**rounded, "clients": CLIENTS, "rounds": ROUNDS, "workers": 1},
                }
            )
        )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
