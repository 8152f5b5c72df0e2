"""Benchmark: model card and experiment comparison against a real local MLflow server.

Goals (issue 5): a card for one run in < 1 s after import; comparing 20 runs in < 2 s and
1,000 runs in < 10 s. Side by side, the same 1,000 runs are read the naive way (one
``get_run`` request per run) to show what paging with ``search_runs`` saves.

Prints one JSON object as the last stdout line (see /work/shared/BENCHMARKS.md).
"""

from __future__ import annotations

import _common  # noqa: F401  (first: takes this folder off sys.path; temp root)

# isort: split

import contextlib
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor


def _timed(fn, repeat: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _create_runs(client, experiment_id: str, n: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    from mlflow.entities import Metric, Param

    rng = random.Random(seed)
    now = int(time.time() * 1000)

    def one(i: int) -> None:
        lr = rng.choice([0.001, 0.01, 0.03, 0.1, 0.3])
        depth = rng.randint(2, 12)
        score = 0.6 + 0.02 * depth - abs(lr - 0.03) + rng.gauss(0, 0.01)
        run = client.create_run(experiment_id, run_name=f"trial-{i}", start_time=now + i)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("val_f1", score, now, 0), Metric("val_loss", 1 - score, now, 0)],
            params=[
                Param("lr", str(lr)),
                Param("max_depth", str(depth)),
                Param("optimizer", rng.choice(["adam", "sgd"])),
                Param("seed", str(i)),
            ],
        )

    # Runs stay RUNNING: ending each one would double the set-up requests and not change
    # what is measured (the comparison reads runs of any status).
    with ThreadPoolExecutor(max_workers=8) as pool, contextlib.redirect_stdout(io.StringIO()):
        list(pool.map(one, range(n)))


def main() -> None:
    from mltrack.localserver import start_server

    server = start_server()
    workdir = tempfile.TemporaryDirectory(prefix="mltrack-bench-insights-")
    try:
        os.chdir(workdir.name)
        os.environ["MLFLOW_TRACKING_URI"] = server.url
        import_start = time.perf_counter()
        import mlflow

        from mltrack import registry
        from mltrack.cards import model_card
        from mltrack.insights import compare_runs

        import_s = time.perf_counter() - import_start
        mlflow.set_tracking_uri(server.url)
        client = mlflow.MlflowClient()

        # one trained, registered model for the card
        import pandas as pd
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier

        X, y = make_classification(n_samples=300, n_features=8, random_state=0)
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
        mlflow.set_experiment("bench-card")
        with mlflow.start_run() as run, contextlib.redirect_stdout(io.StringIO()):
            model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0)
            model.fit(frame, y)
            mlflow.log_params(model.get_params())
            mlflow.log_metrics({"train_accuracy": 0.99, "val_accuracy": 0.91, "val_f1": 0.9})
            mlflow.log_input(mlflow.data.from_pandas(frame, name="synthetic"), context="training")
            registry.save(model, name="bench-model", input_example=frame[:5])
        model_card(run.info.run_id)  # warm-up: first-call imports (skops, sklearn loaders)
        card_s, card = _timed(lambda: model_card("models:/bench-model/1"))
        card_fast_s, _ = _timed(
            lambda: model_card("models:/bench-model/1", feature_importance=False)
        )

        small = client.create_experiment("bench-20")
        _create_runs(client, small, 20, seed=1)
        big = client.create_experiment("bench-1000")
        create_start = time.perf_counter()
        _create_runs(client, big, 1000, seed=2)
        create_s = time.perf_counter() - create_start

        compare_20_s, r20 = _timed(lambda: compare_runs("bench-20", "val_f1"))
        compare_1000_s, r1000 = _timed(lambda: compare_runs("bench-1000", "val_f1"), repeat=2)
        run_ids = [r.run_id for r in r1000.ranked]  # type: ignore[attr-defined]

        def naive() -> list[object]:
            return [client.get_run(run_id) for run_id in run_ids]

        naive_s, _ = _timed(naive, repeat=1)
        assert len(r1000.ranked) == 1000 and len(r20.ranked) == 20  # type: ignore[attr-defined]
        assert "## Metrics" in card.markdown  # type: ignore[attr-defined]
    finally:
        os.chdir("/")
        server.stop()
        workdir.cleanup()

    result = {
        "bench": "insights",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "results": [
            {"name": "card_one_run_s", "value": round(card_s, 3), "unit": "s", "goal": "<= 1"},
            {
                "name": "compare_20_runs_s",
                "value": round(compare_20_s, 3),
                "unit": "s",
                "goal": "<= 2",
            },
            {
                "name": "compare_1000_runs_s",
                "value": round(compare_1000_s, 3),
                "unit": "s",
                "goal": "<= 10",
            },
            {
                "name": "paged_fetch_speedup_vs_get_run_per_run",
                "value": round(naive_s / r1000.fetch_seconds, 1),  # type: ignore[attr-defined]
                "unit": "x",
                "goal": ">= 1",
            },
        ],
        "raw": {
            "import_s": round(import_s, 3),
            "card_without_feature_importance_s": round(card_fast_s, 3),
            "compare_1000_fetch_s": round(r1000.fetch_seconds, 3),  # type: ignore[attr-defined]
            "naive_get_run_1000_s": round(naive_s, 3),
            "create_1000_runs_s": round(create_s, 1),
        },
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
