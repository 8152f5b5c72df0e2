"""Lambda target: SAM template, image, and the generated handler invoked with real events."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from mltrack.deploy import ship
from mltrack.errors import ConfigError

TOKEN = "lambda-token-0123456789"


@pytest.fixture(scope="module")
def bundle(deploy_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lambda")
    result = ship(
        deploy_model.name, to="lambda", dry_run=True, output_dir=out, memory_mb=2048, timeout_s=20
    )
    assert "template.yaml" in result.files and result.commands[0].endswith("sam build")
    return out


def test_sam_template_declares_an_image_function_behind_http_api(bundle: Path) -> None:
    template = yaml.safe_load((bundle / "template.yaml").read_text())
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert template["Globals"]["Function"] == {"Timeout": 20, "MemorySize": 2048}
    [function] = template["Resources"].values()
    assert function["Type"] == "AWS::Serverless::Function"
    props = function["Properties"]
    assert props["PackageType"] == "Image"
    assert props["Environment"]["Variables"]["MLTRACK_API_TOKEN"] == {"Ref": "ApiToken"}
    assert template["Parameters"]["ApiToken"]["NoEcho"] is True
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"]) for e in props["Events"].values()
    }
    assert ("POST", "/predict") in routes and ("GET", "/health") in routes
    assert ("GET", "/ready") in routes  # the handler answers it: the API routes it
    assert all(e["Type"] == "HttpApi" for e in props["Events"].values())
    assert (bundle / function["Metadata"]["Dockerfile"]).is_file()


def test_lambda_image_uses_the_lambda_base_and_handler(bundle: Path) -> None:
    parser = DockerfileParser(path=str(bundle / "Dockerfile"))
    assert parser.baseimage == "public.ecr.aws/lambda/python:3.11"
    assert json.loads(parser.cmd) == ["handler.handler"]
    assert (bundle / "handler.py").is_file() and (bundle / "model" / "MLmodel").is_file()


@pytest.fixture(scope="module")
def handler(bundle: Path):
    """The generated handler.py, imported as Lambda would (token in the environment)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MLTRACK_API_TOKEN", TOKEN)
    try:
        spec = importlib.util.spec_from_file_location(
            "generated_lambda_handler", bundle / "handler.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module.handler
    finally:
        mp.undo()


def _v1(method: str, path: str, body: str | None = None, token: str | None = TOKEN) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "requestContext": {"stage": "prod", "requestId": "req-1"},
        "body": body,
        "isBase64Encoded": False,
    }


def _v2(method: str, path: str, body: str | None = None, token: str | None = TOKEN) -> dict:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "isBase64Encoded": body is not None,
    }
    if body is not None:
        event["body"] = base64.b64encode(body.encode()).decode()
    return event


def test_predict_with_api_gateway_v1_and_v2_events(handler, deploy_model) -> None:
    body = json.dumps({"records": deploy_model.rows})
    for event in (_v1("POST", "/predict", body), _v2("POST", "/prod/predict", body)):
        response = handler(event, None)
        assert response["statusCode"] == 200, response
        assert json.loads(response["body"])["predictions"] == deploy_model.expected
        assert response["headers"]["content-type"] == "application/json"
    batch = handler(_v2("POST", "/predict/batch", json.dumps(deploy_model.rows)), None)
    assert json.loads(batch["body"])["rows"] == len(deploy_model.rows)


def test_handler_errors_match_the_http_server(handler) -> None:
    assert handler(_v1("POST", "/predict", "{}", token=None), None)["statusCode"] == 401
    assert handler(_v2("POST", "/predict", "{}", token="wrong"), None)["statusCode"] == 401
    malformed = handler(_v1("POST", "/predict", "{not json"), None)
    assert malformed["statusCode"] == 400
    wrong = handler(
        _v2("POST", "/predict", json.dumps({"records": [{"x1": "a", "x2": 0, "x3": 0}]})), None
    )
    assert wrong["statusCode"] == 422 and json.loads(wrong["body"])["field"] == "x1"
    assert handler(_v1("GET", "/health", token=None), None)["statusCode"] == 200
    meta = json.loads(handler(_v2("GET", "/metadata"), None)["body"])
    assert meta["version"] == "1" and meta["input_example"]["records"]
    assert handler(_v1("DELETE", "/predict"), None)["statusCode"] == 404


def test_handler_refuses_to_start_with_auth_but_no_token(bundle: Path, monkeypatch) -> None:
    from mltrack.serve.lambda_handler import make_handler

    monkeypatch.delenv("MLTRACK_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="MLTRACK_API_TOKEN is not set"):
        make_handler(str(bundle / "model"))
