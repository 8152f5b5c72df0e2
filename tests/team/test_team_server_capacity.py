"""A server's capacity: workers, request threads per worker, database connections.

MLflow's ``log_batch`` holds two pooled connections at once; a worker running more calls
than half its pool used to stall them all for the pool's 30 s timeout and fail some with
"QueuePool limit … reached". ``ml server`` bounds each worker's request threads
(``mltrack.serverapp``); here 48 calls at once go to one worker, on sqlite and PostgreSQL.
Workers default to one per core on PostgreSQL, within the connections it has free.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from mltrack.errors import ConfigError
from mltrack.serverapp import THREADS_ENV, request_threads
from mltrack.teamserver import ConnectionLimit, TeamServerConfig, plan_workers, team_server
from mltrack.testing.load import METRIC_KEY, log_batch_bodies, post_log_batches
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
    values = BATCHES_PER_RUN * VALUES_PER_BATCH
    bodies = log_batch_bodies(runs, values, VALUES_PER_BATCH)
    # Every thread's first call goes out together: CONCURRENT calls in the worker at once.
    replies = post_log_batches(url, bodies, CONCURRENT, together=True)
    failures = [text[:200] for status, text in replies if status != 200]
    assert failures == [], failures[:3]
    for run_id in runs:
        history = client.get_metric_history(run_id, METRIC_KEY)
        assert len(history) == values, run_id
    return [status for status, _ in replies]


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


@pytest.mark.usefixtures("default_pool")
def test_request_threads_are_half_the_connection_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    assert request_threads() == 7  # SQLAlchemy's 5 + 10
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "20")
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", "20")
    assert request_threads() == 20
    monkeypatch.setenv(THREADS_ENV, "3")
    assert request_threads() == 3


PG = "postgresql://mlflow@db:5432/mlflow"


@pytest.fixture()
def default_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        THREADS_ENV,
        "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE",
        "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("default_pool")
def test_workers_default_to_one_per_core_on_postgres_and_two_on_sqlite() -> None:
    assert plan_workers("sqlite:///mlflow.db", None, None, cores=16) == (
        2,
        7,
        "2 (7 request threads each)",
    )
    assert plan_workers(PG, None, None, cores=8)[:2] == (8, 7)
    assert plan_workers(PG, None, None, cores=64)[:2] == (16, 7)  # memory: ~250 MB a worker
    assert plan_workers(PG, None, None, cores=1)[:2] == (2, 7)
    assert plan_workers(PG, 3, None, cores=16)[:2] == (3, 7)  # --workers is kept


@pytest.mark.usefixtures("default_pool")
def test_workers_and_threads_fit_the_connections_postgres_has_free() -> None:
    # Debian's max_connections=100 on 16 cores: fewer workers, 2 threads each.
    workers, threads, note = plan_workers(PG, None, ConnectionLimit(100, 97), cores=16)
    assert (workers, threads) == (13, 2)
    assert "97 of 100 connections free" in note
    assert workers * (2 * threads + 3) <= 97 - 5
    # Room for every worker: threads only as many as fit.
    assert plan_workers(PG, None, ConnectionLimit(200, 197), cores=16)[:2] == (16, 4)
    # --workers is kept, its threads shrink.
    assert plan_workers(PG, 8, ConnectionLimit(100, 97), cores=16)[:2] == (8, 4)
    with pytest.raises(
        ConfigError, match=r"--workers 40 needs about 205 PostgreSQL .* raise max_connections"
    ):
        plan_workers(PG, 40, ConnectionLimit(100, 97), cores=16)


@pytest.mark.postgres
def test_too_many_workers_for_postgres_is_a_one_line_error(postgres: Any, tmp_path: Path) -> None:
    """The connection limit is read from the real server before any worker starts."""
    name = f"workers_{uuid.uuid4().hex[:8]}"
    uri = postgres.create_database(name)
    load_mlflow_schema(postgres, name)
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", "server", "--port", "0", "--workers", "500"],
        env={**os.environ, "MLFLOW_BACKEND_STORE_URI": uri, "NO_COLOR": "1", "COLUMNS": "200"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--workers 500 needs about 2505 PostgreSQL connections" in done.stderr
    assert "max_connections" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_many_concurrent_log_batch_calls_into_one_sqlite_worker(tmp_path: Path) -> None:
    with _one_worker_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path) as server:
        statuses = _post_concurrently(server.url)
    assert statuses == [200] * (CONCURRENT // 4 * BATCHES_PER_RUN)


class _PeakConnections:
    """Samples how many client connections a PostgreSQL database has, keeping the peak."""

    def __init__(self, uri: str) -> None:
        import sqlalchemy

        from mltrack.teamserver._config import _postgres_driver

        self._sqlalchemy = sqlalchemy
        self._engine = sqlalchemy.create_engine(_postgres_driver(uri))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak = 0

    def _sample(self) -> None:
        query = self._sqlalchemy.text(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        with self._engine.connect() as conn:
            while not self._stop.is_set():
                self.peak = max(self.peak, int(conn.execute(query).scalar() or 0))
                conn.commit()  # pg_stat_activity is a snapshot per transaction
                self._stop.wait(0.05)

    def __enter__(self) -> _PeakConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_many_concurrent_log_batch_calls_into_one_postgres_worker(
    postgres: Any, tmp_path: Path
) -> None:
    """...and the worker stays within the connections ml server plans for it."""
    name = f"threads_{uuid.uuid4().hex[:8]}"
    uri = postgres.create_database(name)
    load_mlflow_schema(postgres, name)
    with _one_worker_server(uri, tmp_path) as server, _PeakConnections(uri) as connections:
        statuses = _post_concurrently(server.url)
    assert statuses == [200] * (CONCURRENT // 4 * BATCHES_PER_RUN)
    threads = server.config.threads
    assert threads == 7
    # What plan_workers budgets per worker: 2 per thread + 3.
    assert 2 <= connections.peak <= 2 * threads + 3, connections.peak
