"""Benchmark: seconds to a healthy throwaway MLflow server, mltrack's starter vs the CLI.

Both use a fresh temp dir with a sqlite store on 127.0.0.1; "healthy" = ``/health``
answers 200 and a first API call (experiments search) succeeds, so the database is
ready too. Three starts each, medians compared.

mltrack's starter is timed in a process that has already imported ``mlflow``, as every
caller of it has (the test session, the docs engine, a user's script): on Linux it forks
that process, so the server only imports its own modules. The ``spawn`` start method (a
fresh interpreter, used on other platforms) is timed too and reported as extra data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import emit, median, result  # noqa: E402

ROUNDS = 3


def _first_api_call(url: str) -> None:
    with urllib.request.urlopen(
        url + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=60
    ) as resp:
        assert resp.status == 200


def time_mltrack(method: str) -> float:
    from mltrack.localserver import start_server

    os.environ["MLTRACK_SERVER_START"] = method
    start = time.perf_counter()
    server = start_server()
    try:
        _first_api_call(server.url)
        return time.perf_counter() - start
    finally:
        server.stop()


def time_cli() -> float:
    from mltrack.localserver import free_port, kill_group, wait_healthy

    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout=180, proc=proc)
        _first_api_call(f"http://127.0.0.1:{port}")
        return time.perf_counter() - start
    finally:
        kill_group(proc)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    import mlflow  # noqa: F401 - the caller's own import, see the module docstring

    from mltrack.localserver import template_db

    template_db()  # built once per MLflow version; not part of a start
    ours = [time_mltrack("fork") for _ in range(ROUNDS)]
    spawned = [time_mltrack("spawn") for _ in range(ROUNDS)]
    cli = [time_cli() for _ in range(ROUNDS)]
    emit(
        "server_start",
        [
            result("mltrack_start", median(ours), "s", "<= 3"),
            result("speedup_vs_mlflow_server_cli", median(cli) / median(ours), "x", ">= 4"),
        ],
        {
            "mltrack_s": [round(t, 2) for t in ours],
            "mltrack_spawn_s": [round(t, 2) for t in spawned],
            "mlflow_server_cli_s": [round(t, 2) for t in cli],
        },
    )


if __name__ == "__main__":
    main()
