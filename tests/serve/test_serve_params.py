"""Inference ``params``: validated against the model's params schema, 422 never 500.

A pyfunc model whose signature declares params is served by real uvicorn on loopback;
the request's params reach ``predict`` converted to the declared types, and anything a
client sends that does not fit is a 422 naming the param.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mltrack._process import free_port


class _Scaled:
    """``predict`` returns ``x * factor`` (+1 when ``shift``), so params are visible."""

    def predict(self, context, model_input, params=None):  # noqa: ANN001 - pyfunc API
        params = params or {}
        factor = params.get("factor", 1.0)
        shift = 1.0 if params.get("shift") else 0.0
        return [float(x) * factor + shift for x in model_input["x"]]


def _save(path: Path, with_params: bool) -> Path:
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    class Model(_Scaled, mlflow.pyfunc.PythonModel):
        pass

    params = ParamSchema([ParamSpec("factor", "double", 1.0), ParamSpec("shift", "boolean", False)])
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "x")]), params=params if with_params else None
    )
    # Declared requirements: no environment inference (seconds of `uv export`).
    mlflow.pyfunc.save_model(
        str(path), python_model=Model(), signature=signature, pip_requirements=["mlflow"]
    )
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Two real servers: a model with a params schema and one without."""
    import uvicorn

    from mltrack.serve.app import create_app

    base = tmp_path_factory.mktemp("params-models")
    running: list[tuple[uvicorn.Server, threading.Thread]] = []
    urls: dict[str, str] = {}
    for name, with_params in (("params", True), ("plain", False)):
        app = create_app(str(_save(base / name, with_params)), auth=False)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        for url in urls.values():
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{url} never became ready"
                time.sleep(0.1)
        yield urls
    finally:
        for server, thread in running:
            server.should_exit = True
            thread.join(timeout=10)


def _predict(url: str, body: object) -> httpx.Response:
    return httpx.post(f"{url}/predict", json=body, timeout=30)


def test_params_reach_the_model_with_their_declared_types(servers) -> None:
    rows = [{"x": 2.0}, {"x": 3.0}]
    assert _predict(servers["params"], {"records": rows}).json()["predictions"] == [2.0, 3.0]
    answer = _predict(servers["params"], {"records": rows, "params": {"factor": 10, "shift": True}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [21.0, 31.0]  # int 10 taken as the double 10.0


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"factor": "ten"}, "param 'factor'"),
        ({"factor": [1, 2]}, "param 'factor'"),
        ({"shift": {"a": 1}}, "param 'shift'"),
        ({"unknown": 1}, "unknown param 'unknown'; this model takes: factor, shift"),
    ],
)
def test_bad_params_are_a_422_naming_the_param(servers, params, text: str) -> None:
    answer = _predict(servers["params"], {"records": [{"x": 1.0}], "params": params})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert text in body["error"], body
    assert body.get("field") == "params"


def test_a_model_without_params_schema_refuses_params(servers) -> None:
    ok = _predict(servers["plain"], {"records": [{"x": 1.0}], "params": {}})
    assert ok.status_code == 200 and ok.json()["predictions"] == [1.0]
    answer = _predict(servers["plain"], {"records": [{"x": 1.0}], "params": {"factor": 2}})
    assert answer.status_code == 422
    assert "this model takes no params; remove 'params'" in answer.json()["error"]


def test_openapi_states_the_params_the_server_accepts(servers) -> None:
    spec = httpx.get(f"{servers['params']}/openapi.json", timeout=30).json()
    params = spec["components"]["schemas"]["RecordsRequest"]["properties"]["params"]
    accepted = params["anyOf"][0]
    assert accepted["additionalProperties"] is False
    assert set(accepted["properties"]) == {"factor", "shift"}
    assert accepted["properties"]["factor"]["default"] == 1.0
    plain = httpx.get(f"{servers['plain']}/openapi.json", timeout=30).json()
    refused = plain["components"]["schemas"]["RecordsRequest"]["properties"]["params"]
    assert refused["anyOf"][0] == {"type": "object", "maxProperties": 0}
