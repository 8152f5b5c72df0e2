"""Time added by ``@track_llm`` to one LLM call, against the local fake LLM server.

Goal (issue 6): < 2 ms added at p50 (we also report p99).

Setup: a real throwaway MLflow server; mltrack's fake OpenAI server in a child process
(so it does not share this interpreter's GIL); the real ``openai`` client.

* ``untracked``: ``client.chat.completions.create(...)`` with MLflow's OpenAI autologging
  switched off (mltrack loaded, no scope active);
* ``tracked``: the same call made by a ``@track_llm`` function inside an active MLflow run:
  a trace (scope span + LLM span), pricing with MLflow's catalog, the budget check and the
  run's ``llm.*`` totals (sent by a background thread) — everything a tracked call costs.

Blocks of untracked and tracked calls alternate (autologging switched off and on between
blocks), so both sides see the same machine load.

A child process (no mltrack hooks, MLflow's defaults) makes the same alternation with
MLflow's own ``mlflow.openai.autolog`` (one LLM span per call): ``mlflow_autolog_added_p50_ms``
is what MLflow tracing costs by itself, and ``mltrack_share_p50_ms`` the difference that is
mltrack's (scope span, pricing, budget gate, run totals, minus what its fewer export
threads save).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (first: takes this folder off sys.path)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

ROUNDS = int(os.environ.get("LLM_BENCH_ROUNDS", "4"))
CALLS_PER_BLOCK = int(os.environ.get("LLM_BENCH_CALLS", "60"))
WARMUP = 20


def _time_calls(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


@contextlib.contextmanager
def _setup() -> Iterator[tuple[str, Callable[[], Any], Any]]:
    """A throwaway MLflow server, the fake LLM server in a child process, a plain call."""
    from openai import OpenAI

    from mltrack.localserver import start_server
    from mltrack.testing import FakeLLMServer

    warnings.simplefilter("ignore")
    server = start_server()
    try:
        with FakeLLMServer(in_process=False) as llm:
            os.environ["MLFLOW_TRACKING_URI"] = server.url
            client = OpenAI(base_url=llm.openai_base_url, api_key="sk-bench", max_retries=0)
            messages = [{"role": "user", "content": "How much does this call cost?"}]

            def plain_call() -> Any:
                return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

            _time_calls(plain_call, WARMUP)
            yield server.url, plain_call, llm
    finally:
        server.stop()


def main() -> None:
    if sys.argv[1:] == ["--mlflow-only"]:
        # A process of its own: MLflow's export queue keeps the thread count it was created
        # with, so MLflow's defaults and mltrack's settings cannot share one process.
        with _setup() as (url, plain_call, _):
            print(json.dumps(_measure_mlflow_autolog(url, plain_call)))
        return
    child = subprocess.run(
        [sys.executable, __file__, "--mlflow-only"], capture_output=True, text=True, check=True
    )
    pristine = json.loads(child.stdout.strip().splitlines()[-1])
    with _setup() as (url, plain_call, llm):
        results = _measure(url, plain_call)
        assert len(llm.calls()) == WARMUP * 3 + CALLS_PER_BLOCK * 2 * ROUNDS
    results.update(pristine)
    _report(results)


def _measure_mlflow_autolog(url: str, plain_call: Callable[[], Any]) -> dict[str, Any]:
    """Plain calls vs calls under MLflow's own OpenAI autolog, before mltrack hooks in."""
    import mlflow

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("llm-overhead-mlflow-only")
    plain: list[float] = []
    autolog: list[float] = []
    with mlflow.start_run(run_name="mlflow-autolog-only"):
        mlflow.openai.autolog(silent=True)
        _time_calls(plain_call, WARMUP)
        for _ in range(ROUNDS):
            mlflow.openai.autolog(disable=True, silent=True)
            plain += _time_calls(plain_call, CALLS_PER_BLOCK)
            mlflow.openai.autolog(silent=True)
            autolog += _time_calls(plain_call, CALLS_PER_BLOCK)
            mlflow.flush_trace_async_logging()
    mlflow.openai.autolog(disable=True, silent=True)
    return {"pristine_ms": plain, "mlflow_autolog_ms": autolog}


def _measure(url: str, plain_call: Callable[[], Any]) -> dict[str, Any]:
    import mlflow

    from mltrack.llm import flush_metrics, track_llm

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("llm-overhead")

    @track_llm(start_run=False)
    def tracked_call() -> Any:
        return plain_call()

    untracked: list[float] = []
    tracked: list[float] = []
    cpu = {"untracked": 0.0, "tracked": 0.0}
    with mlflow.start_run(run_name="llm-overhead") as run:
        _time_calls(tracked_call, WARMUP)  # installs the hooks, warms imports and caches
        mlflow.openai.autolog(disable=True)
        _time_calls(plain_call, WARMUP)
        for _ in range(ROUNDS):
            mlflow.openai.autolog(disable=True, silent=True)
            start = time.process_time()
            untracked += _time_calls(plain_call, CALLS_PER_BLOCK)
            cpu["untracked"] += time.process_time() - start
            mlflow.openai.autolog(silent=True)
            start = time.process_time()
            tracked += _time_calls(tracked_call, CALLS_PER_BLOCK)
            mlflow.flush_trace_async_logging()  # the export's CPU belongs to the tracked side
            flush_metrics()
            cpu["tracked"] += time.process_time() - start
        metrics = mlflow.get_run(run.info.run_id).data.metrics
    # sanity: every tracked call was priced and counted in the run
    assert metrics["llm.calls"] == WARMUP + ROUNDS * CALLS_PER_BLOCK, metrics
    assert metrics["llm.cost_usd"] > 0
    n = ROUNDS * CALLS_PER_BLOCK
    cpu_ms = [cpu["untracked"] * 1000 / n, cpu["tracked"] * 1000 / n]
    return {"untracked_ms": untracked, "tracked_ms": tracked, "cpu_ms_per_call": cpu_ms}


def _report(r: dict[str, Any]) -> None:
    p = _common.percentile
    un, tr = r["untracked_ms"], r["tracked_ms"]
    added_p50 = _common.median(tr) - _common.median(un)
    added_p99 = p(tr, 99) - p(un, 99)
    mlflow_added = _common.median(r["mlflow_autolog_ms"]) - _common.median(r["pristine_ms"])
    results = [
        _common.result("added_p50_ms", added_p50, "ms", "<= 2"),
        _common.result("added_p99_ms", added_p99, "ms"),
        _common.result("mlflow_autolog_added_p50_ms", mlflow_added, "ms"),
        _common.result("mltrack_share_p50_ms", added_p50 - mlflow_added, "ms"),
        _common.result("ratio_p50", _common.median(tr) / _common.median(un), "x"),
        # CPU time (all threads, trace export included) suffers less from a loaded machine
        _common.result(
            "added_cpu_ms_per_call", r["cpu_ms_per_call"][1] - r["cpu_ms_per_call"][0], "ms"
        ),
    ]
    raw = {
        "calls_per_side": len(un),
        "untracked_p50_ms": round(_common.median(un), 3),
        "untracked_p99_ms": round(p(un, 99), 3),
        "tracked_p50_ms": round(_common.median(tr), 3),
        "tracked_p99_ms": round(p(tr, 99), 3),
        "pristine_p50_ms": round(_common.median(r["pristine_ms"]), 3),
        "pristine_p99_ms": round(p(r["pristine_ms"], 99), 3),
        "mlflow_autolog_p50_ms": round(_common.median(r["mlflow_autolog_ms"]), 3),
        "untracked_cpu_ms_per_call": round(r["cpu_ms_per_call"][0], 3),
        "tracked_cpu_ms_per_call": round(r["cpu_ms_per_call"][1], 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(f"untracked p50 {raw['untracked_p50_ms']} ms, tracked p50 {raw['tracked_p50_ms']} ms")
    _common.emit("llm_overhead", results, raw)


if __name__ == "__main__":
    main()
