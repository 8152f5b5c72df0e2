"""Benchmark: write calls against a throwaway server, SQLite without fsync vs with it.

A throwaway server (docs builds, tests) runs MLflow's app through
``mltrack.serverapp:throwaway_app``, whose SQLite connections skip fsync: its store is
gone with it, so nothing needs to survive a power cut. This measures what that buys,
side by side in one run: two servers started the same way (``uvicorn --factory``, one
worker, same store template), one on ``throwaway_app`` and one on ``plain_app`` (SQLite's
default, what a team server keeps). Rounds alternate between them; each round makes
the same write calls from one client (``runs/log-metric``, ``runs/set-tag``, the calls
every tracked run makes) and times them. The server's CPU is read from /proc.

Prints one JSON object as the last line of stdout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import cpu_s, emit, median, process_tree, result  # noqa: E402

ROUNDS = 4
CALLS = 150  # per round: log-metric and set-tag alternately


def _start(factory: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A server on ``factory``, started as the throwaway server's spawn path does: under
    a keeper, so it ends with this benchmark even when that is killed outright."""
    from mltrack._process import free_port, spawn_kept
    from mltrack.localserver import _server_env, template_db, wait_healthy
    from mltrack.serverapp import uvicorn_command

    (root / "artifacts").mkdir(parents=True)
    shutil.copyfile(template_db(), root / "mlflow.db")
    port = free_port()
    env = _server_env(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")
    proc = spawn_kept(
        uvicorn_command("127.0.0.1", port, factory=factory),
        log=root / "server.log",
        env=env,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc=proc)
    return proc, url


def _round(session, url: str, run_id: str, offset: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(CALLS):
        if i % 2:
            body = {"run_id": run_id, "key": f"tag{i}", "value": str(offset + i)}
            session.post(f"{url}/api/2.0/mlflow/runs/set-tag", json=body).raise_for_status()
        else:
            body = {"run_id": run_id, "key": "loss", "value": 1.0 / (i + 1), "step": offset + i}
            body["timestamp"] = int(time.time() * 1000)
            session.post(f"{url}/api/2.0/mlflow/runs/log-metric", json=body).raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    import requests

    from mltrack._process import kill_group
    from mltrack.serverapp import PLAIN_APP, THROWAWAY_APP

    root = Path(tempfile.mkdtemp(prefix="bench-writes-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        servers = {}
        for name, factory in (("no_fsync", THROWAWAY_APP), ("fsync", PLAIN_APP)):
            proc, url = _start(factory, root / name)
            procs.append(proc)
            session = requests.Session()
            created = session.post(
                f"{url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}
            ).json()
            servers[name] = (proc, url, session, created["run"]["info"]["run_id"])
        walls: dict[str, list[float]] = {name: [] for name in servers}
        cpu: dict[str, float] = dict.fromkeys(servers, 0.0)
        for r in range(ROUNDS):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for name in order:
                proc, url, session, run_id = servers[name]
                before = cpu_s(process_tree(proc.pid))
                walls[name].append(_round(session, url, run_id, r * CALLS))
                cpu[name] += cpu_s(process_tree(proc.pid)) - before
    finally:
        for proc in procs:
            kill_group(proc, grace_s=5)
        shutil.rmtree(root, ignore_errors=True)
    per_call_ms = {name: median(walls[name]) / CALLS * 1000 for name in walls}
    cpu_ms = {name: cpu[name] / (ROUNDS * CALLS) * 1000 for name in cpu}
    emit(
        "server_writes",
        [
            result(
                "write_time_ratio_vs_fsync", per_call_ms["no_fsync"] / per_call_ms["fsync"], "x"
            ),
            result(
                "server_cpu_ratio_vs_fsync", cpu_ms["no_fsync"] / max(cpu_ms["fsync"], 1e-9), "x"
            ),
        ],
        {
            "calls_per_round": CALLS,
            "rounds": ROUNDS,
            "write_ms_per_call": {k: round(v, 2) for k, v in per_call_ms.items()},
            "server_cpu_ms_per_call": {k: round(v, 2) for k, v in cpu_ms.items()},
            "round_s": {k: [round(x, 3) for x in v] for k, v in walls.items()},
        },
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
