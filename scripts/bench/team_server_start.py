"""Benchmark: CPU and wall seconds for ``ml server`` to start, forked vs spawned.

Starts ``python -m mltrack server`` (sqlite, a fresh state directory) as a user would,
waits until it prints its client instructions (prepare done, every worker healthy), then
adds up the CPU time of its whole process tree from ``/proc`` (the live processes and
the children they have reaped, such as the prepare step) before stopping it with SIGTERM.
``MLTRACK_SERVER_START=spawn`` is the fresh-interpreter path (other platforms, and Linux
before forking); the default forks on Linux (the prepare step, and the server when it has
one worker). Medians of a few starts per setting; the
ratios say how much the fork saves.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cpu_s, emit, median, process_tree, result  # noqa: E402

ROUNDS = 2


def start_once(method: str, workers: int) -> tuple[float, float, int]:
    """(CPU s, wall s, processes) of one ``ml server`` start."""
    from mltrack._process import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-team-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    env["MLTRACK_SERVER_START"] = method
    log = tmp / "out.log"
    cmd = [sys.executable, "-m", "mltrack", "server", "--port", str(free_port())]
    cmd += ["--workers", str(workers), "--state-dir", str(tmp / "state")]
    cmd += ["--backend", f"sqlite:///{tmp / 'mlflow.db'}"]
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        while b"clients connect with" not in log.read_bytes():
            if proc.poll() is not None or time.perf_counter() - start > 300:
                raise RuntimeError(log.read_text())
            time.sleep(0.05)
        wall = time.perf_counter() - start
        pids = process_tree(proc.pid)
        return cpu_s(pids), wall, len(pids)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    from mltrack.localserver import template_db

    template_db()  # built once per MLflow version; not part of a start
    raw: dict[str, list[list[float]]] = {}
    results = []
    for workers in (1, 2):
        runs = {m: [start_once(m, workers) for _ in range(ROUNDS)] for m in ("spawn", "fork")}
        for method, rows in runs.items():
            raw[f"{method}_w{workers}_cpu_wall_procs"] = [
                [round(c, 2), round(w, 2), n] for c, w, n in rows
            ]
        cpu = {m: median([r[0] for r in rows]) for m, rows in runs.items()}
        wall = {m: median([r[1] for r in rows]) for m, rows in runs.items()}
        # Several workers are spawned either way (only their prepare step forks): that
        # row is reported without a goal.
        goals = (">= 1.5", ">= 1.5") if workers == 1 else (None, None)
        results += [
            result(f"fork_start_cpu_w{workers}", cpu["fork"], "s"),
            result(f"cpu_saved_ratio_w{workers}", cpu["spawn"] / cpu["fork"], "x", goals[0]),
            result(f"wall_ratio_w{workers}", wall["spawn"] / wall["fork"], "x", goals[1]),
        ]
    emit("team_server_start", results, raw)


if __name__ == "__main__":
    main()
