"""Reliability under load: 8 processes x 2,000 metrics into the PostgreSQL-backed server.

Every value must arrive exactly once (count, distinct steps and checksum per run, read
straight from PostgreSQL), also when the tracking server is restarted in the middle.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mltrack._forkserver import start_forkserver
from mltrack.testing.load import METRIC_KEY, collect, expected_checksum, run_writers

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WRITERS = 8
VALUES = 2000


def _sql(pg_team: Any, query: str) -> list[list[str]]:
    pg = pg_team.postgres
    done = pg.run("psql", "-At", "-F", "\t", "-c", query, *pg._conn_args(pg.database))
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.strip().splitlines() if line]


def _per_run(pg_team: Any, experiment: str) -> dict[str, tuple[int, float, int]]:
    rows = _sql(
        pg_team,
        "SELECT r.name, count(*), sum(m.value), count(DISTINCT m.step) "
        "FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
        "JOIN experiments e ON e.experiment_id = r.experiment_id "
        f"WHERE e.name = '{experiment}' AND m.key = '{METRIC_KEY}' GROUP BY r.name",
    )
    return {name: (int(n), float(total), int(steps)) for name, n, total, steps in rows}


def _runs(pg_team: Any, experiment: str) -> list[list[str]]:
    return _sql(
        pg_team,
        "SELECT r.name, r.status FROM runs r JOIN experiments e "
        f"ON e.experiment_id = r.experiment_id WHERE e.name = '{experiment}'",
    )


def _client_env(pg_team: Any) -> dict[str, str]:
    return {
        "MLFLOW_TRACKING_URI": pg_team.url,
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": pg_team.admin_password,
        "MLTRACK_LOGGING__FLUSH_INTERVAL_S": "0.5",
        "MLTRACK_LOGGING__RETRY_INTERVAL_S": "0.5",
        "PYTHONWARNINGS": "ignore",
    }


@pytest.fixture(scope="module")
def writer_env(pg_team: Any) -> Iterator[dict[str, str]]:
    """The writers' environment: the server's URL and credentials, and a fork server.

    Writers start as forks of one process that imported MLflow and the logger (what is
    tested is the server under 8 clients, not 8 interpreters importing MLflow); where
    forking is off they are fresh interpreters.
    """
    env = _client_env(pg_team)
    forks = start_forkserver(
        {**os.environ, **env}, modules=("mlflow", "mltrack.tracking", "mltrack.logging")
    )
    if forks is None:
        yield env
        return
    with forks:
        yield {**env, **forks.env}


def _assert_exactly_once(pg_team: Any, experiment: str, results: list[Any]) -> None:
    for result in results:
        assert result.returncode == 0, f"writer {result.writer} failed:\n{result.output}"
    per_run = _per_run(pg_team, experiment)
    runs = _runs(pg_team, experiment)
    ids = ", ".join(f"'{r.run_id}'" for r in results)
    where = _sql(
        pg_team,
        "SELECT r.name, e.name, r.status, r.run_uuid FROM runs r JOIN experiments e "
        f"ON e.experiment_id = r.experiment_id WHERE r.run_uuid IN ({ids})",
    )
    assert sorted(name for name, _ in runs) == sorted(r.run_name for r in results), where
    assert {status for _, status in runs} == {"FINISHED"}, runs
    for result in results:
        count, total, steps = per_run[result.run_name]
        assert (count, steps) == (VALUES, VALUES), (result.run_name, count, steps)
        assert total == expected_checksum(result.writer, VALUES), result.run_name


def test_eight_writers_every_value_exactly_once(
    pg_team: Any, writer_env: dict[str, str], tmp_path: Path
) -> None:
    experiment = f"load-{uuid.uuid4().hex[:8]}"
    procs, names = run_writers(WRITERS, VALUES, experiment, writer_env, tmp_path)
    results = collect(procs, names, timeout=240)
    _assert_exactly_once(pg_team, experiment, results)


def test_server_restart_mid_load_loses_and_duplicates_nothing(
    pg_team: Any, writer_env: dict[str, str], tmp_path: Path
) -> None:
    experiment = f"restart-{uuid.uuid4().hex[:8]}"
    # Paced writers (50 values, then 0.25 s) keep the load going for ~10 s each.
    procs, names = run_writers(
        WRITERS, VALUES, experiment, writer_env, tmp_path, chunk=50, pause=0.25
    )
    try:
        deadline = time.monotonic() + 180
        arrived = 0
        while arrived < 1000:  # restart only once data is flowing
            assert time.monotonic() < deadline, "no metrics arrived before the restart"
            assert all(p.poll() is None for p in procs), "a writer ended before the restart"
            time.sleep(0.5)
            arrived = sum(n for n, _, _ in _per_run(pg_team, experiment).values())
        pg_team.server.restart()
    except BaseException:
        collect(procs, names, timeout=1)  # kills the writers
        raise
    results = collect(procs, names, timeout=240)
    assert arrived < WRITERS * VALUES, "the restart happened after the load, not in it"
    _assert_exactly_once(pg_team, experiment, results)
