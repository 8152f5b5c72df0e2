"""Time added by ``@track_llm`` to one LLM call, against the local fake LLM server.

Goal (issue 6): < 2 ms added at p50 (we also report p99).

Setup: a real throwaway MLflow server; mltrack's fake OpenAI server in a child process;
the real ``openai`` client. Each side runs in a worker process of its own, so that no
side inherits another's hooks (once mltrack or MLflow patched the client, a "plain" call
in that process still goes through the patches, disabled or not):

* ``untracked``: ``client.chat.completions.create(...)`` in a process where neither
  mltrack's hooks nor MLflow's autologging were ever installed;
* ``tracked``: the same call made by a ``@track_llm`` function inside an active MLflow run:
  a trace (scope span + LLM span), pricing with MLflow's catalog, the budget check and the
  run's ``llm.*`` totals (sent by a background thread) — everything a tracked call costs;
* ``mlflow``: the same call under MLflow's own ``mlflow.openai.autolog`` (one LLM span per
  call, MLflow's defaults, no mltrack: its exporter uploads every 5 spans where mltrack's
  uploads every 64, ``llm.export_batch_spans``): ``mlflow_autolog_added_p50_ms`` is what MLflow
  tracing costs by itself, ``mltrack_share_p50_ms`` what mltrack adds on top of it.

This process only orchestrates: it runs blocks of calls in the workers in turn (one
worker busy at a time), so all sides see the same machine load. A worker exports its
traces after each block, outside the timed calls but inside its CPU time.

Wall-clock figures move with the machine's load (other jobs share its cores); the
``*_call_path_cpu_*`` figures (CPU time of the calling thread only) do not, and show the
work each side adds on the call itself. The rest of the added time is the trace export
in MLflow's background threads, which competes with the call for the GIL and the cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (first: takes this folder off sys.path)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import IO, Any  # noqa: E402

ROUNDS = int(os.environ.get("LLM_BENCH_ROUNDS", "5"))
CALLS_PER_BLOCK = int(os.environ.get("LLM_BENCH_CALLS", "50"))
WARMUP = 20
SIDES = ("untracked", "tracked", "mlflow")
_REPLY = "@@bench "  # prefix of protocol lines: MLflow prints to stdout as well


def _time_calls(fn: Callable[[], Any], n: int) -> tuple[list[float], list[float]]:
    """Wall-clock and calling-thread CPU milliseconds of ``n`` calls."""
    wall, cpu = [], []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, cpu


# --------------------------------------------------------------------------- worker side


def _worker(side: str, mlflow_url: str, llm_url: str) -> None:
    """Serve ``block N`` / ``end`` commands on stdin; answer one protocol line each."""
    warnings.simplefilter("ignore")
    from openai import OpenAI

    client = OpenAI(base_url=llm_url, api_key="sk-bench", max_retries=0)
    messages = [{"role": "user", "content": "How much does this call cost?"}]

    def plain_call() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    call: Callable[[], Any] = plain_call
    after_block: Callable[[], None] = lambda: None  # noqa: E731
    finish: Callable[[], dict[str, Any]] = dict
    if side != "untracked":
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_url
        import mlflow

        mlflow.set_tracking_uri(mlflow_url)
        mlflow.set_experiment(f"llm-overhead-{side}")
        run = mlflow.start_run(run_name=side)

        def after_block() -> None:
            mlflow.flush_trace_async_logging()

        if side == "mlflow":
            mlflow.openai.autolog(silent=True)
        else:
            from mltrack.llm import flush_metrics, track_llm

            @track_llm(start_run=False)
            def tracked_call() -> Any:
                return plain_call()

            call = tracked_call

            def finish() -> dict[str, Any]:
                flush_metrics()
                return dict(mlflow.get_run(run.info.run_id).data.metrics)

    _time_calls(call, WARMUP)  # imports, connections, caches, the export threads
    after_block()
    for line in sys.stdin:
        command = line.split()
        if command[0] == "block":
            start = time.process_time()
            wall, thread_cpu = _time_calls(call, int(command[1]))
            after_block()  # the export's CPU belongs to this side
            reply: dict[str, Any] = {
                "ms": wall,
                "thread_cpu_ms": thread_cpu,
                "cpu_s": time.process_time() - start,
            }
        else:
            reply = {"metrics": finish()}
        print(_REPLY + json.dumps(reply), flush=True)
        if command[0] == "end":
            break
    if side != "untracked":
        mlflow.end_run()
        mlflow.flush_trace_async_logging()


# --------------------------------------------------------------------------- orchestrator


class _Worker:
    """One side, in a child process driven through its stdin/stdout."""

    def __init__(self, side: str, mlflow_url: str, llm_url: str) -> None:
        self.side = side
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", side, mlflow_url, llm_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(_REPLY):
                return dict(json.loads(line[len(_REPLY) :]))
        self.stderr.seek(0)
        tail = self.stderr.read().decode(errors="replace")[-3000:]
        raise RuntimeError(f"the {self.side} worker died:\n{tail}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        _worker(*sys.argv[2:5])
        return
    from mltrack.localserver import start_server
    from mltrack.testing import FakeLLMServer

    server = start_server()
    workers: list[_Worker] = []
    try:
        with FakeLLMServer(in_process=False) as llm:
            workers = [_Worker(side, server.url, llm.openai_base_url) for side in SIDES]
            ms: dict[str, list[float]] = {side: [] for side in SIDES}
            thread_ms: dict[str, list[float]] = {side: [] for side in SIDES}
            cpu_s = dict.fromkeys(SIDES, 0.0)
            for i in range(ROUNDS):
                # rotate who goes first: a side never always follows the same neighbour
                for worker in workers[i % 3 :] + workers[: i % 3]:
                    reply = worker.ask(f"block {CALLS_PER_BLOCK}")
                    ms[worker.side] += reply["ms"]
                    thread_ms[worker.side] += reply["thread_cpu_ms"]
                    cpu_s[worker.side] += reply["cpu_s"]
            metrics = workers[1].ask("end")["metrics"]
            for worker in workers:
                if worker.side != "tracked":
                    worker.ask("end")
                worker.proc.wait(timeout=120)
            served = len(llm.calls())
    finally:
        for worker in workers:
            worker.close()
        server.stop()
    # sanity: every call reached the server; every tracked call was priced and counted
    assert served == 3 * (WARMUP + ROUNDS * CALLS_PER_BLOCK), served
    assert metrics["llm.calls"] == WARMUP + ROUNDS * CALLS_PER_BLOCK, metrics
    assert metrics["llm.cost_usd"] > 0
    n = ROUNDS * CALLS_PER_BLOCK
    _report(ms, thread_ms, {side: cpu_s[side] * 1000 / n for side in SIDES})


def _report(
    ms: dict[str, list[float]], thread_ms: dict[str, list[float]], cpu_ms: dict[str, float]
) -> None:
    p, med = _common.percentile, _common.median
    un, tr, ml = ms["untracked"], ms["tracked"], ms["mlflow"]
    added_p50 = med(tr) - med(un)
    mlflow_added = med(ml) - med(un)
    results = [
        _common.result("added_p50_ms", added_p50, "ms", "<= 2"),
        _common.result("added_p99_ms", p(tr, 99) - p(un, 99), "ms"),
        _common.result("mlflow_autolog_added_p50_ms", mlflow_added, "ms"),
        _common.result("mltrack_share_p50_ms", added_p50 - mlflow_added, "ms"),
        _common.result("ratio_p50", med(tr) / med(un), "x"),
        # CPU time (all threads, trace export included) suffers less from a loaded machine
        _common.result("added_cpu_ms_per_call", cpu_ms["tracked"] - cpu_ms["untracked"], "ms"),
        # negative when mltrack's single export thread saves more than mltrack adds
        _common.result("mltrack_share_cpu_ms_per_call", cpu_ms["tracked"] - cpu_ms["mlflow"], "ms"),
        # CPU of the calling thread alone: the work on the call path, whatever the load
        _common.result(
            "added_call_path_cpu_p50_ms",
            med(thread_ms["tracked"]) - med(thread_ms["untracked"]),
            "ms",
        ),
        _common.result(
            "mltrack_share_call_path_cpu_p50_ms",
            med(thread_ms["tracked"]) - med(thread_ms["mlflow"]),
            "ms",
        ),
    ]
    raw: dict[str, Any] = {"calls_per_side": len(un)}
    for side in SIDES:
        raw[f"{side}_p50_ms"] = round(med(ms[side]), 3)
        raw[f"{side}_p99_ms"] = round(p(ms[side], 99), 3)
        raw[f"{side}_cpu_ms_per_call"] = round(cpu_ms[side], 3)
        raw[f"{side}_call_path_cpu_p50_ms"] = round(med(thread_ms[side]), 3)
    raw["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(
        f"p50: untracked {raw['untracked_p50_ms']} ms, mlflow autolog {raw['mlflow_p50_ms']} "
        f"ms, tracked {raw['tracked_p50_ms']} ms"
    )
    _common.emit("llm_overhead", results, raw)


if __name__ == "__main__":
    main()
