"""A tensor model served without auth but with a per-client rate limit (real server)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mltrack.deploy.local import LocalServer, start_local
from mltrack.localserver import ThrowawayServer

LIMIT = 8


@pytest.fixture(scope="module")
def tensor_server(mlflow_server: ThrowawayServer, served_models) -> Iterator[LocalServer]:
    env = {
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "MLTRACK_SERVE__RATE_LIMIT_PER_MINUTE": str(LIMIT),
    }
    server = start_local(served_models.tensor, auth=False, env=env)
    try:
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None  # no orphan left behind


def test_tensor_model_takes_instances_and_checks_shape(
    tensor_server: LocalServer, served_models
) -> None:
    import mlflow
    import numpy as np

    rows = [[0.5, -1.0, 2.0, 3.0], [-1.0, 0.0, 0.1, 0.0]]
    expected = mlflow.pyfunc.load_model(f"models:/{served_models.tensor}/1").predict(np.array(rows))
    with httpx.Client(base_url=tensor_server.url, timeout=30) as client:
        ok = client.post("/predict", json={"instances": rows})
        wrong_shape = client.post("/predict", json={"instances": [[1.0, 2.0]]})
        not_numbers = client.post("/predict", json={"inputs": [["a", "b", "c", "d"]]})
        records = client.post("/predict", json={"records": [{"a": 1}]})
        meta = client.get("/metadata").json()
    assert ok.status_code == 200 and ok.json()["predictions"] == expected.tolist()
    assert wrong_shape.status_code == 422
    assert "expected shape ('n', 4), got (1, 2)" in wrong_shape.json()["error"]
    assert not_numbers.status_code == 422 and not_numbers.json()["field"] == "inputs"
    assert records.status_code == 422 and "takes tensors" in records.json()["error"]
    assert meta["input_kind"] == "tensor" and meta["version"] == "1" and meta["alias"] is None


def test_rate_limit_answers_429_with_retry_after(tensor_server: LocalServer) -> None:
    statuses = []
    with httpx.Client(base_url=tensor_server.url, timeout=30) as client:
        for _ in range(LIMIT + 5):
            statuses.append(client.post("/predict", json={"instances": [[0.0, 0.0, 0.0, 0.0]]}))
        health = client.get("/health")
    codes = [r.status_code for r in statuses]
    assert 429 in codes and codes.count(200) <= LIMIT
    limited = statuses[codes.index(429)]
    assert int(limited.headers["retry-after"]) >= 1
    assert "rate limit exceeded" in limited.json()["error"]
    assert health.status_code == 200  # probes are never rate limited
