"""The model server over real HTTP: `ml ship NAME --local` under uvicorn on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from mltrack.localserver import ThrowawayServer, free_port, wait_healthy
from tests._helpers import ml_in_process, start_ml

TOKEN = "test-token-0123456789abcdef"
MAX_BODY = 4096


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    stdout: list[str]
    model: str

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def served(mlflow_server: ThrowawayServer, served_models, tmp_path_factory) -> Iterator[Served]:
    """`ml ship NAME --local` in a subprocess, with a known token and a small body limit."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_")},
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "MLTRACK_API_TOKEN": TOKEN,
        "MLTRACK_SERVE__MAX_BODY_BYTES": str(MAX_BODY),
        "PYTHONWARNINGS": "ignore",
    }
    proc = start_ml(
        *("ship", served_models.table, "--local", "--port", str(port)),
        cwd=tmp_path_factory.mktemp("ship-local"),
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True
    )
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=120, proc=proc, path="/ready")
        yield Served(url, proc, lines, served_models.table)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: graceful shutdown
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


ROWS = [
    {"a": 1.5, "b": 0.0, "c": -1.0, "n": 3},
    {"a": -2.0, "b": 1.0, "c": 0.5, "n": 0},
]


def _expected(served_models) -> list[int]:
    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model(f"models:/{served_models.table}@champion")
    frame = pd.DataFrame(ROWS).astype(
        {"a": "float64", "b": "float64", "c": "float64", "n": "int64"}
    )
    return [int(v) for v in model.predict(frame)]


def test_cli_announces_the_url_and_model(served: Served) -> None:
    text = "".join(served.stdout)
    assert f"serving {served.url}" in text
    assert f"models:/{served.model}@champion" in text
    assert TOKEN not in text  # a token from the environment is never printed


def test_probes_are_public(served: Served) -> None:
    with served.client(token=None) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_every_input_format_gives_the_same_predictions(served: Served, served_models) -> None:
    expected = _expected(served_models)
    split = {
        "columns": ["a", "b", "c", "n"],
        "data": [[r[k] for k in "abc"] + [r["n"]] for r in ROWS],
    }
    columns = {k: [r[k] for r in ROWS] for k in ("a", "b", "c", "n")}
    bodies = [
        {"records": ROWS},
        ROWS,
        {"dataframe_records": ROWS},
        {"split": split},
        {"dataframe_split": split},
        {"columns": columns},
        {"inputs": columns},
        {"instances": ROWS},
    ]
    with served.client() as client:
        for body in bodies:
            response = client.post("/predict", json=body)
            assert response.status_code == 200, (body, response.text)
            assert response.json()["predictions"] == expected, body
        single = client.post("/predict", json=ROWS[0])
        assert single.json()["predictions"] == expected[:1]
        batch = client.post("/predict/batch", json={"records": ROWS * 10})
        assert batch.status_code == 200
        assert batch.json() == {"predictions": expected * 10, "rows": 20}


def test_malformed_json_is_400(served: Served) -> None:
    with served.client() as client:
        response = client.post(
            "/predict", content=b'{"records": [', headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    body = response.json()
    assert (
        "malformed JSON" in body["error"] and body["request_id"] == response.headers["x-request-id"]
    )


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"records": [{"a": "x", "b": 0.0, "c": 1.0, "n": 1}]}, "a", "expected number"),
        ({"records": [{"a": 1.0, "b": 0.0, "c": 1.0, "n": 1.5}]}, "n", "expected integer"),
        ({"records": [{"a": 1.0, "b": 0.0, "n": 1}]}, "c", "missing required field 'c'"),
        (
            {"records": [{"a": 1.0, "b": 0.0, "c": 1.0, "n": 1, "zz": 2}]},
            "zz",
            "unknown field 'zz'",
        ),
        ({"columns": {"a": [1.0], "b": [0.0], "c": [True], "n": [1]}}, "c", "got boolean"),
    ],
)
def test_wrong_fields_are_422_naming_the_field(
    served: Served, body, field: str, words: str
) -> None:
    with served.client() as client:
        response = client.post("/predict", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert words in response.json()["error"]


def test_auth_is_required_and_checked(served: Served) -> None:
    with served.client(token=None) as client:
        missing = client.post("/predict", json={"records": ROWS})
        metadata = client.get("/metadata")
    with served.client(token="wrong-token") as client:
        wrong = client.post("/predict", json={"records": ROWS})
    with served.client() as client:
        ok = client.post("/predict", json={"records": ROWS})
    assert missing.status_code == 401 and "missing bearer token" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert metadata.status_code == 401
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid bearer token"
    assert ok.status_code == 200


def test_oversized_bodies_are_413_with_or_without_content_length(served: Served) -> None:
    big = {"records": ROWS * 200}
    with served.client() as client:
        declared = client.post("/predict", json=big)

        def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
            yield b'{"records": ['
            for _ in range(400):
                yield b'{"a": 1.0, "b": 0.0, "c": 1.0, "n": 1},'
            yield b'{"a": 1.0, "b": 0.0, "c": 1.0, "n": 1}]}'

        streamed = client.post("/predict", content=chunks())
    assert declared.status_code == 413 and "max_body_bytes" in declared.json()["error"]
    assert streamed.status_code == 413


def test_model_exception_is_500_with_request_id_and_no_traceback(served: Served) -> None:
    with served.client() as client:
        response = client.post(
            "/predict", json={"records": [{"a": 1e7, "b": 0.0, "c": 1.0, "n": 1}]}
        )
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["request_id"] in body["error"]
    assert "Traceback" not in response.text and "internal detail" not in response.text


def test_metadata_describes_the_model(served: Served) -> None:
    with served.client() as client:
        meta = client.get("/metadata").json()
    assert meta["name"] == served.model and meta["version"] == "1" and meta["alias"] == "champion"
    assert len(meta["run_id"]) == 32
    assert [c["name"] for c in meta["signature"]["inputs"]] == ["a", "b", "c", "n"]
    assert set(meta["input_example"]["records"][0]) == {"a", "b", "c", "n"}


def test_openapi_shows_the_signature_fields(served: Served) -> None:
    with served.client(token=None) as client:
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    record = schema["components"]["schemas"]["Record"]
    assert record["required"] == ["a", "b", "c", "n"]
    assert record["properties"]["a"]["type"] == "number"
    assert record["properties"]["n"]["type"] == "integer"
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/PredictRequest"}
    assert set(body["examples"]) == {"records", "split", "columns"}
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_errors_and_latency(served: Served) -> None:
    with served.client() as client:
        before = client.get("/metrics").text
        client.post("/predict", json={"records": ROWS})
        client.post("/predict", json={"records": [{"a": "bad"}]})
        after = client.get("/metrics")
    with served.client(token=None) as client:
        assert client.get("/metrics").status_code == 401
    assert after.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = after.text
    ok = dict(name="mltrack_requests_total", method="POST", path="/predict", status="200")
    bad = dict(name="mltrack_requests_total", method="POST", path="/predict", status="422")
    assert _metric(text, **ok) == _metric(before, **ok) + 1
    assert _metric(text, **bad) == _metric(before, **bad) + 1
    count = _metric(text, "mltrack_request_duration_seconds_count", path="/predict")
    inf = _metric(text, "mltrack_request_duration_seconds_bucket", path="/predict", le="+Inf")
    assert count == inf >= 2
    assert _metric(text, "mltrack_predictions_total") >= 2
    assert re.search(r"^mltrack_model_errors_total \d+$", text, re.M)
    assert f'name="{served.model}"' in text


def test_ml_try_calls_the_server_with_the_input_example(
    served: Served, mlflow_server: ThrowawayServer
) -> None:
    env = {**os.environ, "MLTRACK_API_TOKEN": TOKEN}
    proc = subprocess.run(
        [sys.executable, "-m", "mltrack", "try", served.url, "--repeat", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"predictions"' in proc.stdout and "latency:" in proc.stdout
    # What a user can get wrong, each one line (in-process: the exit path is the same).
    wrong = ml_in_process("try", served.url, "--token", "nope")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "answered 401 for /metadata" in wrong.stderr and "--token" in wrong.stderr
    dead = f"http://127.0.0.1:{free_port()}"
    refused = ml_in_process("try", dead)
    assert refused.returncode == 2, refused.stderr
    assert f"cannot reach {dead} (connection refused)" in refused.stderr, refused.stderr
    not_a_model = ml_in_process("try", mlflow_server.url)  # a tracking server, say
    assert not_a_model.returncode == 2, not_a_model.stderr
    assert "is not an mltrack model server (404 for /metadata)" in not_a_model.stderr


LOAD_CLIENTS = 8
LOAD_REQUESTS = 150  # per client: 1,200 in all


@pytest.mark.slow
def test_load_zero_errors_bounded_memory(served: Served) -> None:
    """8 clients x 150 requests: every answer is 200 and the server's RSS grows < 40 MiB.

    A fixed amount of work rather than a fixed time, so a fast machine finishes early;
    the sustained 30 s load (32 clients, valid and invalid bodies, drain under load) is
    scripts/bench/serving.py's.
    """
    import psutil

    server = psutil.Process(served.process.pid)
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    body = {"records": ROWS}

    def worker() -> None:
        ok = errors = 0
        with served.client() as client:
            for _ in range(LOAD_REQUESTS):
                try:
                    response = client.post("/predict", json=body)
                    if response.status_code == 200:
                        ok += 1
                    else:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
        with lock:
            counts["ok"] += ok
            counts["errors"] += errors

    with served.client() as client:  # warm up before the baseline
        for _ in range(200):
            client.post("/predict", json=body)
    baseline = server.memory_info().rss
    threads = [threading.Thread(target=worker) for _ in range(LOAD_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    growth_mib = (server.memory_info().rss - baseline) / 2**20
    assert counts == {"ok": LOAD_CLIENTS * LOAD_REQUESTS, "errors": 0}, counts
    assert growth_mib < 40, f"RSS grew {growth_mib:.1f} MiB under load"
