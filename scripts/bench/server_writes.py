"""Benchmark: REST calls against a throwaway server, and what each of its savings buys.

A throwaway server (docs builds, tests) runs MLflow's app through
``mltrack.serverapp:throwaway_app``: its SQLite connections skip fsync (its store is gone
with it, so nothing needs to survive a power cut), and the calls MLflow's Flask app
answers skip the FastAPI layer above it (``FlaskRoutesDirect``). This measures both, side
by side in one run: three servers started the same way (``uvicorn --factory``, one
worker, same store template): ``throwaway_app``; ``no_fsync_app`` (fsync off, every call
through FastAPI: ``_server_apps.py``); and ``plain_app`` (SQLite's default, the app as
MLflow ships it: what a team server runs). Rounds rotate the order; each round makes the
same calls from one client: the writes every tracked run makes (``runs/log-metric``,
``runs/set-tag``) and the reads a docs build makes most (``runs/get``,
``experiments/get-by-name``), and times them. The servers' CPU is read from /proc.

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

ROUNDS = 6
CALLS = 160  # per round: log-metric, set-tag, runs/get, get-by-name in turn


BENCH_DIR = Path(__file__).resolve().parent
#: name -> (factory, app dir): the throwaway app, and the two steps towards it.
SERVERS = {
    "throwaway": ("mltrack.serverapp:throwaway_app", None),
    "no_fsync": ("_server_apps:no_fsync_app", str(BENCH_DIR)),
    "plain": ("mltrack.serverapp:plain_app", None),
}


def _start(factory: str, app_dir: str | None, root: Path) -> tuple[subprocess.Popen[bytes], str]:
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
        uvicorn_command("127.0.0.1", port, app_dir=app_dir, factory=factory),
        log=root / "server.log",
        env=env,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc=proc)
    return proc, url


def _round(session, url: str, run_id: str, offset: int) -> float:  # type: ignore[no-untyped-def]
    api = f"{url}/api/2.0/mlflow"
    start = time.perf_counter()
    for i in range(CALLS):
        kind = i % 4
        if kind == 0:
            body = {"run_id": run_id, "key": "loss", "value": 1.0 / (i + 1), "step": offset + i}
            body["timestamp"] = int(time.time() * 1000)
            session.post(f"{api}/runs/log-metric", json=body).raise_for_status()
        elif kind == 1:
            body = {"run_id": run_id, "key": f"tag{i}", "value": str(offset + i)}
            session.post(f"{api}/runs/set-tag", json=body).raise_for_status()
        elif kind == 2:
            session.get(f"{api}/runs/get", params={"run_id": run_id}).raise_for_status()
        else:
            params = {"experiment_name": "Default"}
            session.get(f"{api}/experiments/get-by-name", params=params).raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    import requests

    from mltrack._process import kill_group

    root = Path(tempfile.mkdtemp(prefix="bench-writes-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        servers = {}
        for name, (factory, app_dir) in SERVERS.items():
            proc, url = _start(factory, app_dir, root / name)
            procs.append(proc)
            session = requests.Session()
            created = session.post(
                f"{url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}
            ).json()
            servers[name] = (proc, url, session, created["run"]["info"]["run_id"])
        walls: dict[str, list[float]] = {name: [] for name in servers}
        cpu: dict[str, float] = dict.fromkeys(servers, 0.0)
        names = list(servers)
        for r in range(ROUNDS):
            for name in names[r % len(names) :] + names[: r % len(names)]:
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

    def ratio(of: dict[str, float], a: str, b: str) -> float:
        return of[a] / max(of[b], 1e-9)

    emit(
        "server_writes",
        [
            # The whole throwaway app against MLflow's app as shipped.
            result("call_time_ratio_vs_plain", ratio(per_call_ms, "throwaway", "plain"), "x"),
            result("server_cpu_ratio_vs_plain", ratio(cpu_ms, "throwaway", "plain"), "x"),
            # Each saving alone.
            result("server_cpu_ratio_fsync_off", ratio(cpu_ms, "no_fsync", "plain"), "x"),
            result("server_cpu_ratio_flask_direct", ratio(cpu_ms, "throwaway", "no_fsync"), "x"),
        ],
        {
            "calls_per_round": CALLS,
            "rounds": ROUNDS,
            "call_ms": {k: round(v, 2) for k, v in per_call_ms.items()},
            "server_cpu_ms_per_call": {k: round(v, 2) for k, v in cpu_ms.items()},
            "round_s": {k: [round(x, 3) for x in v] for k, v in walls.items()},
        },
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
