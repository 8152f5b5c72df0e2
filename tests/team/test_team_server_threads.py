"""Many concurrent ``log_batch`` calls into one server worker all succeed.

MLflow's ``log_batch`` holds two pooled connections at once; a worker running more calls
than half its pool used to stall them all for the pool's 30 s timeout and fail some with
"QueuePool limit … reached". ``ml server`` bounds each worker's request threads
(``mltrack.serverapp``); here 48 calls at once go to one worker, on sqlite and PostgreSQL.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mltrack.serverapp import THREADS_ENV, request_threads
from mltrack.teamserver import TeamServerConfig, team_server
from mltrack.testing.postgres import load_mlflow_schema

CONCURRENT = 48
BATCHES_PER_RUN = 12
VALUES_PER_BATCH = 50


def _post_concurrently(url: str) -> list[int]:
    """Post log_batch calls from CONCURRENT threads; every value must have arrived."""
    from mlflow import MlflowClient

    client = MlflowClient(url)
    experiment_id = client.create_experiment(f"threads-{uuid.uuid4().hex[:8]}")
    runs = [client.create_run(experiment_id).info.run_id for _ in range(CONCURRENT // 4)]
    bodies = [
        json.dumps(
            {
                "run_id": run_id,
                "metrics": [
                    {"key": "m", "value": float(step), "timestamp": 1, "step": step}
                    for step in range(batch * VALUES_PER_BATCH, (batch + 1) * VALUES_PER_BATCH)
                ],
            }
        )
        for run_id in runs
        for batch in range(BATCHES_PER_RUN)
    ]
    parts = urllib.parse.urlsplit(url)
    local = threading.local()
    statuses: list[int] = []
    failures: list[str] = []
    start = threading.Barrier(CONCURRENT)

    def post(body: str) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
            start.wait()  # every thread's first call goes out together
        local.conn.request(
            "POST", "/api/2.0/mlflow/runs/log-batch", body, {"Content-Type": "application/json"}
        )
        response = local.conn.getresponse()
        text = response.read().decode(errors="replace")
        statuses.append(response.status)
        if response.status != 200:
            failures.append(text[:200])

    with ThreadPoolExecutor(CONCURRENT) as pool:
        list(pool.map(post, bodies))
    assert failures == [], failures[:3]
    for run_id in runs:
        history = client.get_metric_history(run_id, "m")
        assert len(history) == BATCHES_PER_RUN * VALUES_PER_BATCH, run_id
    return statuses


def _one_worker_server(backend: str, root: Path) -> Any:
    return team_server(
        TeamServerConfig(
            backend=backend,
            artifacts=str(root / "artifacts"),
            port=0,
            workers=1,
            state_dir=root / "state",
        )
    )


def test_request_threads_are_half_the_connection_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", raising=False)
    monkeypatch.delenv("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", raising=False)
    assert request_threads() == 7  # SQLAlchemy's 5 + 10
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "20")
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", "20")
    assert request_threads() == 20
    monkeypatch.setenv(THREADS_ENV, "3")
    assert request_threads() == 3


@pytest.mark.slow
def test_many_concurrent_log_batch_calls_into_one_sqlite_worker(tmp_path: Path) -> None:
    with _one_worker_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path) as server:
        statuses = _post_concurrently(server.url)
    assert statuses == [200] * (CONCURRENT // 4 * BATCHES_PER_RUN)


@pytest.mark.slow
@pytest.mark.postgres
def test_many_concurrent_log_batch_calls_into_one_postgres_worker(
    postgres: Any, tmp_path: Path
) -> None:
    name = f"threads_{uuid.uuid4().hex[:8]}"
    uri = postgres.create_database(name)
    load_mlflow_schema(postgres, name)
    with _one_worker_server(uri, tmp_path) as server:
        statuses = _post_concurrently(server.url)
    assert statuses == [200] * (CONCURRENT // 4 * BATCHES_PER_RUN)
