"""AWS Lambda entry point wrapping the same predict logic as the HTTP server.

Handles API Gateway REST (payload v1) and HTTP API (payload v2) proxy events, and
Lambda function URLs (which use v2). The model is loaded when the handler is created,
i.e. during the Lambda init phase, not on the first request.

Examples:
    The generated ``handler.py`` of ``ml ship NAME --to lambda``:

    >>> from mltrack.serve.lambda_handler import make_handler
    >>> handler = make_handler("/var/task/model")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Any

from mltrack.errors import ConfigError
from mltrack.serve.app import TOKEN_ENV
from mltrack.serve.model import LoadedModel, load_model, resolve_model
from mltrack.serve.predictor import ModelFailure, Predictor, new_request_id
from mltrack.serve.schema import RequestError

__all__ = ["make_handler", "parse_event"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def parse_event(event: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
    """``(method, path, lower-cased headers, body)`` from an API Gateway v1 or v2 event."""
    if event.get("version") == "2.0":
        http = event.get("requestContext", {}).get("http", {})
        method, path = http.get("method", "GET"), event.get("rawPath") or http.get("path", "/")
    else:
        method, path = event.get("httpMethod", "GET"), event.get("path", "/")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    return method.upper(), path, headers, body


def _response(status: int, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "x-request-id": request_id},
        "body": json.dumps(body, default=str),
        "isBase64Encoded": False,
    }


def _route(path: str) -> str:
    """Match on the path's end so stage prefixes (``/prod/predict``) work too."""
    trimmed = path.rstrip("/") or "/"
    for route in ("/predict/batch", "/predict", "/health", "/ready", "/metadata"):
        if trimmed.endswith(route):
            return route
    return trimmed


def make_handler(
    model: str | LoadedModel,
    *,
    auth: bool | None = None,
    token: str | None = None,
    max_body_bytes: int | None = None,
) -> Handler:
    """Load the model now and return a Lambda handler ``handler(event, context)``.

    Args:
        model: model directory, URI, name, or a loaded model.
        auth: require a bearer token (default: the ``serve.auth`` setting).
        token: the token (default: ``MLTRACK_API_TOKEN``). Unlike the HTTP server no token
            is generated: it would only be visible in the function's logs.
        max_body_bytes: request limit (default: ``serve.max_body_bytes``).

    Raises:
        ConfigError: auth is on and no token is configured.
    """
    from mltrack.config import load_settings

    conf = load_settings().serve
    use_auth = conf.auth if auth is None else auth
    secret = (token or os.environ.get(TOKEN_ENV) or "").encode()
    if use_auth and not secret:
        raise ConfigError(
            f"auth is on but {TOKEN_ENV} is not set; set it in the function's environment "
            "or set MLTRACK_SERVE__AUTH=false"
        )
    limit = max_body_bytes or conf.max_body_bytes
    loaded = model if isinstance(model, LoadedModel) else load_model(resolve_model(model))
    predictor = Predictor(loaded)

    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        request_id = getattr(context, "aws_request_id", None) or new_request_id()
        method, path, headers, body = parse_event(event)
        route = _route(path)
        if route in ("/health", "/ready") and method == "GET":
            return _response(200, {"status": "ok" if route == "/health" else "ready"}, request_id)
        if use_auth:
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), secret
            ):
                return _response(
                    401,
                    {"error": "missing or invalid bearer token", "request_id": request_id},
                    request_id,
                )
        if route == "/metadata" and method == "GET":
            return _response(
                200, {**loaded.info, "input_example": loaded.input_example}, request_id
            )
        if route not in ("/predict", "/predict/batch") or method != "POST":
            return _response(
                404, {"error": f"no route {method} {path}", "request_id": request_id}, request_id
            )
        if len(body) > limit:
            return _response(
                413,
                {"error": f"request body over {limit} bytes", "request_id": request_id},
                request_id,
            )
        started = time.perf_counter()
        try:
            data, params, rows = predictor.parse(body)
            predictions = predictor.score(data, params, request_id)
        except RequestError as exc:
            error = {"error": exc.message, "field": exc.field, "request_id": request_id}
            return _response(exc.status, error, request_id)
        except ModelFailure as exc:
            error = {
                "error": f"the model raised {exc}; quote request id {request_id}",
                "request_id": request_id,
            }
            return _response(500, error, request_id)
        answer: dict[str, Any] = {"predictions": predictions}
        if route == "/predict/batch":
            answer["rows"] = rows
        response = _response(200, answer, request_id)
        response["headers"]["x-latency-ms"] = f"{(time.perf_counter() - started) * 1000:.2f}"
        return response

    return handler
