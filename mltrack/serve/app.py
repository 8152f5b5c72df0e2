"""The FastAPI application that serves one MLflow model.

Routes: ``POST /predict``, ``POST /predict/batch``, ``GET /health`` (liveness),
``GET /ready`` (model loaded), ``GET /metadata``, ``GET /metrics`` (Prometheus), and the
OpenAPI document (``/openapi.json``, ``/docs``) whose request schema comes from the
model signature. Authentication, request ids, body-size limits, rate limiting and
metrics are one pure ASGI middleware (cheaper than Starlette's ``BaseHTTPMiddleware``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from mltrack.serve.metrics import CONTENT_TYPE, Metrics
from mltrack.serve.model import LoadedModel, ModelRef, load_model, resolve_model
from mltrack.serve.openapi import ErrorResponse, request_examples, schema_components
from mltrack.serve.predictor import ModelFailure, Predictor, new_request_id
from mltrack.serve.schema import RequestError
from mltrack.uris import strip_userinfo

if TYPE_CHECKING:
    from mltrack.config import ServeSettings

__all__ = ["TOKEN_ENV", "create_app", "resolve_token"]

log = logging.getLogger("mltrack.serve")

TOKEN_ENV = "MLTRACK_API_TOKEN"
#: Routes reachable without a token: probes and the API description.
PUBLIC_PATHS = frozenset(
    {"/health", "/ready", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
)
KNOWN_PATHS = frozenset({"/predict", "/predict/batch", "/metadata", "/metrics"}) | PUBLIC_PATHS
#: Scoring on the event loop is faster than a thread hop while the model is this quick.
INLINE_PREDICT_S = 0.002
INLINE_MAX_ROWS = 256
#: On SIGTERM, /ready answers 503 while predictions go on being served, until no
#: prediction has come for DRAIN_IDLE_S (a load balancer has stopped sending) or for at
#: most DRAIN_MAX_S (within Docker's and Kubernetes' default 10 s / 30 s grace), and only
#: then does uvicorn stop listening and finish what is in flight. Closing the listener at
#: once would reset the connections still queued in the kernel's accept backlog.
DRAIN_IDLE_S = 0.3
DRAIN_MAX_S = 5.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def resolve_token(auth: bool, token: str | None = None) -> tuple[str | None, bool]:
    """The bearer token to require: explicit, else ``MLTRACK_API_TOKEN``, else a new one.

    Returns:
        ``(token, generated)``; ``token`` is ``None`` when ``auth`` is off.
    """
    if not auth:
        return None, False
    token = token or os.environ.get(TOKEN_ENV) or None
    if token:
        return token, False
    import secrets

    return secrets.token_urlsafe(32), True


class _RateLimiter:
    """Token bucket per client key: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, key: str) -> float:
        """0 when the request may go ahead (and is counted), else seconds to wait."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > 10_000:  # bound memory: forget the idle clients
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
        return (1.0 - tokens) / self.rate


async def _reply(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class _Gate:
    """Request id, auth, rate limit, body-size check and metrics around every request."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        token: str | None,
        max_body_bytes: int,
        rate_limit_per_minute: int | None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes
        self.limiter = _RateLimiter(rate_limit_per_minute) if rate_limit_per_minute else None

    def _check_auth(self, headers: dict[bytes, bytes]) -> str | None:
        """The error message when the request is not authorised, else ``None``."""
        assert self.token is not None
        value = headers.get(b"authorization")
        if not value:
            return f"missing bearer token: send 'Authorization: Bearer <token>' (the token is {TOKEN_ENV})"
        scheme, _, given = value.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
            return "invalid bearer token"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given_id = headers.get(b"x-request-id", b"")
        request_id = (
            given_id.decode("latin-1")
            if 0 < len(given_id) <= 64 and given_id.isascii()
            else new_request_id()
        )
        scope.setdefault("state", {})["request_id"] = request_id
        path = scope["path"]
        label = path if path in KNOWN_PATHS else "other"
        extra = [(b"x-request-id", request_id.encode("latin-1"))]
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        start = time.perf_counter()
        self.metrics.begin()
        try:
            problem = self._gatekeep(path, headers, scope)
            if problem is not None:
                status, body, more = problem
                await _reply(send, status, {**body, "request_id": request_id}, [*extra, *more])
                return
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.observe(scope["method"], label, status, time.perf_counter() - start)

    def _gatekeep(
        self, path: str, headers: dict[bytes, bytes], scope: Scope
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        """An early answer (status, body, headers) for requests that must not go further."""
        public = path in PUBLIC_PATHS
        if self.token is not None and not public:
            message = self._check_auth(headers)
            if message is not None:
                return 401, {"error": message}, [(b"www-authenticate", b'Bearer realm="mltrack"')]
        if self.limiter is not None and path.startswith("/predict"):  # never probes or scrapes
            key = headers.get(b"authorization", b"").decode("latin-1") or str(
                (scope.get("client") or ("?",))[0]
            )
            wait = self.limiter.retry_after(key)
            if wait > 0:
                return (
                    429,
                    {"error": f"rate limit exceeded; retry in {wait:.1f} s"},
                    [(b"retry-after", str(max(1, round(wait))).encode())],
                )
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return 413, {"error": _too_large(self.max_body_bytes)}, []
        return None


def _too_large(limit: int) -> str:
    return f"request body over {limit} bytes; send fewer rows per request or raise serve.max_body_bytes"


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes also when no Content-Length was sent."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, _too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, request_id: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "request_id": request_id}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


class _ServeState:
    """What the routes share; the model is set by the lifespan once loaded."""

    def __init__(self, ref: ModelRef | None, model: LoadedModel | None, metrics: Metrics) -> None:
        self.ref = ref
        self.model = model
        self.predictor = Predictor(model) if model else None
        self.metrics = metrics
        self.ready = False
        self.draining = False  # SIGTERM received: /ready says 503, predictions still served
        self.scoring = 0  # prediction requests in progress
        self.last_request = 0.0  # time.monotonic() of the last prediction request
        self.predict_ewma_s = 0.0

    def drain_on_sigterm(self) -> None:
        """Put a drain in front of the SIGTERM handler the server installed (uvicorn's).

        Called from the lifespan, so it works however uvicorn was started (``ml ship
        --local``, ``python -m mltrack.serve``); uvicorn puts its previous handlers back
        when it exits. Needs the main thread (a server run in a thread keeps uvicorn's).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return

        def stop_when_idle(signum: int, frame: Any) -> None:
            deadline = time.monotonic() + DRAIN_MAX_S
            while time.monotonic() < deadline:
                if self.scoring == 0 and time.monotonic() - self.last_request >= DRAIN_IDLE_S:
                    break
                time.sleep(0.02)
            previous(signum, frame)  # uvicorn's graceful shutdown: in-flight requests finish

        def on_sigterm(signum: int, frame: Any) -> None:
            if self.draining:  # a second SIGTERM: stop now
                previous(signum, frame)
                return
            self.draining = True
            log.info("SIGTERM: draining (/ready answers 503) before shutting down")
            threading.Thread(target=stop_when_idle, args=(signum, frame), daemon=True).start()

        signal.signal(signal.SIGTERM, on_sigterm)


def _settings(settings: ServeSettings | None) -> ServeSettings:
    if settings is not None:
        return settings
    from mltrack.config import load_settings

    return load_settings().serve


def create_app(
    model: str | ModelRef | LoadedModel,
    settings: ServeSettings | None = None,
    *,
    auth: bool | None = None,
    token: str | None = None,
    max_body_bytes: int | None = None,
    rate_limit_per_minute: int | None = None,
    announce_token: bool = True,
) -> FastAPI:
    """Build the FastAPI app that serves ``model``.

    The reference is resolved now (so a missing model fails before the server starts)
    and the model is loaded once by the app's lifespan; ``/ready`` answers 200 from then
    until shutdown.

    Args:
        model: a model name, ``NAME@alias``, an MLflow model URI, a local model directory,
            a :class:`ModelRef`, or an already loaded :class:`LoadedModel`.
        settings: the ``serve`` settings; loaded from ``.mltrack.yml``/env when omitted.
        auth: require a bearer token (default: ``settings.auth``).
        token: the token; default ``MLTRACK_API_TOKEN``, else a generated one.
        max_body_bytes: override ``settings.max_body_bytes``.
        rate_limit_per_minute: override ``settings.rate_limit_per_minute``.
        announce_token: print a generated token once to stderr.

    Returns:
        The application; run it with ``uvicorn`` (``ml ship NAME --local`` does).

    Raises:
        ModelNotFoundError: the reference does not resolve to a model.
    """
    conf = _settings(settings)
    use_auth = conf.auth if auth is None else auth
    the_token, generated = resolve_token(use_auth, token)
    if generated and announce_token:
        print(f"mltrack: API token (shown once): {the_token}", file=sys.stderr, flush=True)
    loaded = model if isinstance(model, LoadedModel) else None
    ref = (
        loaded.ref
        if loaded
        else (model if isinstance(model, ModelRef) else resolve_model(str(model)))
    )
    metrics = Metrics({"name": ref.name or "", "version": ref.version or "", "uri": ref.uri})
    state = _ServeState(ref, loaded, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.model is None:
            state.model = await asyncio.to_thread(load_model, ref)
            state.predictor = Predictor(state.model)
        metrics.model_load_seconds = state.model.load_seconds
        state.ready = True
        state.drain_on_sigterm()
        log.info("model %s loaded in %.2f s", ref.uri, state.model.load_seconds)
        yield
        state.ready = False  # draining: probes say not ready while uvicorn finishes requests

    app = FastAPI(
        title=f"mltrack model API: {ref.name or ref.slug}",
        version=str(ref.version or "1"),
        description=f"Serves `{ref.uri}` with mltrack. Send `Authorization: Bearer <token>` "
        "to every route except the probes and these docs.",
        lifespan=lifespan,
    )
    app.state.serve = state
    app.state.token_generated = generated
    app.state.token = the_token
    _add_routes(app, state, max_body_bytes or conf.max_body_bytes)
    _add_openapi(app, state)
    app.add_middleware(
        _Gate,
        metrics=metrics,
        token=the_token,
        max_body_bytes=max_body_bytes or conf.max_body_bytes,
        rate_limit_per_minute=rate_limit_per_minute or conf.rate_limit_per_minute,
    )

    async def on_error(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "-")
        log.error("request %s failed: %r", request_id, exc, exc_info=exc)
        return _error(
            500, f"internal error; quote request id {request_id} to the operator", request_id
        )

    app.add_exception_handler(Exception, on_error)
    return app


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Malformed JSON, an empty body, or JSON nested too deeply.",
        401: "Missing or invalid bearer token.",
        413: "Request body too large.",
        422: "Input does not match the model signature (a wrong type, a null in a required "
        "field, NaN, Infinity or a number out of the type's range); `field` names the culprit "
        "and the message its row.",
        429: "Rate limit exceeded (see `Retry-After`).",
        500: "The model raised; the request id is in the server log.",
        503: "The model is not loaded yet.",
    }.items()
}


def _add_routes(app: FastAPI, state: _ServeState, max_body_bytes: int) -> None:
    async def score(request: Request, batch: bool) -> Response:
        state.scoring += 1  # on the event loop only: no lock needed
        state.last_request = time.monotonic()
        try:
            return await _score(request, batch)
        finally:
            state.scoring -= 1
            state.last_request = time.monotonic()

    async def _score(request: Request, batch: bool) -> Response:
        request_id = request.state.request_id
        predictor = state.predictor
        if predictor is None or not state.ready:
            return _error(503, "model not loaded yet; retry when /ready answers 200", request_id)
        try:
            body = await _read_body(request, max_body_bytes)
            data, params, rows = predictor.parse(body)
            started = time.perf_counter()
            if not batch and rows <= INLINE_MAX_ROWS and state.predict_ewma_s < INLINE_PREDICT_S:
                predictions = predictor.score(data, params, request_id)
            else:
                predictions = await asyncio.to_thread(predictor.score, data, params, request_id)
            took = time.perf_counter() - started
            state.predict_ewma_s = 0.8 * state.predict_ewma_s + 0.2 * took
        except RequestError as exc:
            return _error(exc.status, exc.message, request_id, exc.field)
        except ModelFailure as exc:
            state.metrics.model_error()
            return _error(
                500,
                f"the model raised {exc}; quote request id {request_id} to the operator",
                request_id,
            )
        state.metrics.predicted(rows)
        payload: dict[str, Any] = {"predictions": predictions}
        if batch:
            payload["rows"] = rows
        return Response(json.dumps(payload, default=str), media_type="application/json")

    @app.post("/predict", tags=["predict"], summary="Score rows", responses=_ERRORS)
    async def predict(request: Request) -> Response:
        """Score a small request on the event loop (or a worker thread for slow models)."""
        return await score(request, batch=False)

    @app.post("/predict/batch", tags=["predict"], summary="Score many rows", responses=_ERRORS)
    async def predict_batch(request: Request) -> Response:
        """Score a large request in a worker thread so probes and small requests stay fast.

        The answer also carries `rows`, the number of rows scored.
        """
        return await score(request, batch=True)

    @app.get("/health", tags=["probes"], summary="Liveness")
    async def health() -> dict[str, str]:
        """200 while the process is up (use as the liveness probe)."""
        return {"status": "ok"}

    @app.get(
        "/ready", tags=["probes"], summary="Readiness", responses={503: {"model": ErrorResponse}}
    )
    async def ready(request: Request) -> Response:
        """200 once the model is loaded; 503 before that and from SIGTERM on (the server
        then goes on scoring until no prediction has come for a moment, then stops)."""
        if not state.ready or state.draining:
            message = "shutting down" if state.draining else "model not loaded"
            return _error(503, message, request.state.request_id)
        return JSONResponse({"status": "ready", "model": state.ref.uri if state.ref else None})

    @app.get(
        "/metadata",
        tags=["model"],
        summary="Model metadata",
        responses={401: _ERRORS[401], 503: _ERRORS[503]},
    )
    async def metadata(request: Request) -> Response:
        """Name, version, alias, run, signature, input example and a link to the model page."""
        if state.model is None:
            return _error(503, "model not loaded", request.state.request_id)
        return JSONResponse(_metadata(state.model))

    @app.get(
        "/metrics",
        tags=["probes"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,  # documents text/plain, which is what it sends
        responses={  # JSON, unlike the route's text/plain: spelled out
            401: {
                "description": _ERRORS[401]["description"],
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                },
            }
        },
    )
    async def metrics() -> Response:
        """Requests, latency histogram, predictions and model errors in Prometheus text format."""
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)


def _metadata(model: LoadedModel) -> dict[str, Any]:
    info = dict(model.info)
    info["input_example"] = model.input_example
    info["input_kind"] = model.spec.kind
    link = None
    # Every client reads this: never the user and password a tracking URI may carry.
    tracking = strip_userinfo(os.environ.get("MLFLOW_TRACKING_URI", ""))[0]
    if tracking.startswith("http") and info.get("name") and info.get("version"):
        link = f"{tracking.rstrip('/')}/#/models/{info['name']}/versions/{info['version']}"
    info["model_page"] = link
    card = model.local_path / "README.md"  # the model card, copied into build contexts
    info["card"] = card.read_text()[:20_000] if card.is_file() else None
    return info


def _add_openapi(app: FastAPI, state: _ServeState) -> None:
    """Replace the generic request bodies with schemas generated from the signature."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        if state.model is None:
            return schema  # not cached: regenerated with the signature once loaded
        output = state.model.pyfunc.metadata.get_output_schema()
        params = state.model.pyfunc.metadata.get_params_schema()
        components, body = schema_components(state.model.spec, output, params)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        examples = request_examples(state.model.spec, state.model.input_example)
        ok = {"$ref": "#/components/schemas/PredictResponse"}
        for path in ("/predict", "/predict/batch"):
            operation = schema["paths"][path]["post"]
            content: dict[str, Any] = {"schema": body}
            if examples:
                content["examples"] = examples
            operation["requestBody"] = {"required": True, "content": {"application/json": content}}
            operation["responses"]["200"]["content"] = {"application/json": {"schema": ok}}
        schema["components"].setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
        }
        for path, item in schema["paths"].items():
            if path not in PUBLIC_PATHS:
                for operation in item.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
