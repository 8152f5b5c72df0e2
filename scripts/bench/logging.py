"""Benchmark: mltrack's buffered logger vs MLflow's per-call and batched logging.

Same real throwaway server, same process, 10,000 metric values each. Per-call
``log_metric`` is timed on PER_CALL_SAMPLE values and scaled to 10,000 (it is linear:
one HTTP request per value) so the script stays within a few minutes.
"""

from __future__ import annotations

import time
import tracemalloc

from _common import emit, result  # before anything that imports stdlib `logging`

N = 10_000
PER_CALL_SAMPLE = 1_000


def main() -> None:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    import mltrack
    from mltrack.localserver import start_server
    from mltrack.logging import get_logger

    server = start_server()
    try:
        mlflow.set_tracking_uri(server.url)
        client = MlflowClient(server.url)
        exp = client.create_experiment("bench-logging")

        run_id = client.create_run(exp).info.run_id
        start = time.perf_counter()
        for i in range(PER_CALL_SAMPLE):
            client.log_metric(run_id, "m", float(i), step=i)
        per_call_s = (time.perf_counter() - start) * N / PER_CALL_SAMPLE

        run_id = client.create_run(exp).info.run_id
        now = int(time.time() * 1000)
        start = time.perf_counter()
        for offset in range(0, N, 1000):
            client.log_batch(
                run_id,
                metrics=[Metric("m", float(i), now, i) for i in range(offset, offset + 1000)],
            )
        batch_s = time.perf_counter() - start

        mlflow.set_experiment(experiment_id=exp)
        with mltrack.run("bench", autolog=False, log_git=False) as handle:
            logger = get_logger(handle.tracking_uri)
            tracemalloc.start()
            start = time.perf_counter()
            for i in range(N):
                mltrack.log_metric("m", float(i), step=i)
            enqueue_s = time.perf_counter() - start
            logger.flush()
            mltrack_s = time.perf_counter() - start
            _, peak_bytes = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        arrived = len(client.get_metric_history(handle.id, "m"))
        if arrived != N:
            raise SystemExit(f"mltrack delivered {arrived} of {N} values")
    finally:
        server.stop()

    emit(
        "logging",
        [
            result("speedup_vs_log_metric", per_call_s / mltrack_s, "x", ">= 50"),
            result("ratio_vs_log_batch", mltrack_s / batch_s, "x", "<= 2"),
            result("queue_peak_memory", peak_bytes / 1e6, "MB"),
        ],
        {
            "values": N,
            "log_metric_s": round(per_call_s, 3),
            "log_metric_sampled_values": PER_CALL_SAMPLE,
            "log_batch_s": round(batch_s, 3),
            "mltrack_s": round(mltrack_s, 3),
            "mltrack_enqueue_s": round(enqueue_s, 4),
            "queue_peak_values": logger.peak_queue,
            "queue_peak_bytes": peak_bytes,
        },
    )


if __name__ == "__main__":
    main()
