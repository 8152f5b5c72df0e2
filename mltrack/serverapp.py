"""The ASGI app every tracking-server worker runs: MLflow's own, with bounded request threads.

MLflow's FastAPI app hands each REST call to its Flask handlers on a thread of anyio's
default pool (40 threads per worker). A ``log_batch`` call opens a second database session
inside the first (``SqlAlchemyStore.log_batch`` → ``_log_metrics``), so it holds two of the
worker's pooled connections at once, and SQLAlchemy's pool holds 15 (5 + 10 overflow).
With more than 7 such calls in one worker, every call can hold one connection while
waiting for its second: the calls stall for the pool's 30 s timeout and fail with
"QueuePool limit … reached" (measured: 64 concurrent ``log_batch`` calls at 4 workers fell
from ~2,400 to ~700 values/s, with failures). Capping the worker's request threads at half
the pool keeps every call able to finish; the calls beyond wait on the event loop instead.
With the GIL a worker runs Python on one core anyway, so the cap costs no throughput.

It also extends MLflow's Host-header check (its DNS-rebinding protection answers 403
"Invalid Host header" to any name but localhost and private IPs) with the names in
``MLTRACK_SERVER_ALLOWED_HOSTS``: ``ml server`` puts the machine's own names there when it
listens on the network, so the URL it prints for the team works.

Used as uvicorn factories (``--factory``): ``mltrack.serverapp:plain_app`` for the tracking
server, ``mltrack.serverapp:auth_app`` with MLflow's ``basic-auth`` app,
``mltrack.serverapp:throwaway_app`` for a throwaway store. Standard library
only until a factory runs, so it can also be copied next to a stock MLflow image (the
Kubernetes manifests mount it from a ConfigMap).
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = [
    "ALLOWED_HOSTS_ENV",
    "AUTH_APP",
    "PLAIN_APP",
    "THREADS_ENV",
    "THROWAWAY_APP",
    "BoundedThreads",
    "FlaskRoutesDirect",
    "allow_extra_hosts",
    "auth_app",
    "plain_app",
    "request_threads",
    "sqlite_without_fsync",
    "throwaway_app",
    "uvicorn_command",
]

PLAIN_APP = "mltrack.serverapp:plain_app"
AUTH_APP = "mltrack.serverapp:auth_app"
THROWAWAY_APP = "mltrack.serverapp:throwaway_app"
THREADS_ENV = "MLTRACK_SERVER_THREADS"
ALLOWED_HOSTS_ENV = "MLTRACK_SERVER_ALLOWED_HOSTS"
_MLFLOW_ALLOWED_HOSTS_ENV = "MLFLOW_SERVER_ALLOWED_HOSTS"
_SQLALCHEMY_POOL_SIZE = 5  # SQLAlchemy's QueuePool defaults, which MLflow keeps unless told
_SQLALCHEMY_MAX_OVERFLOW = 10
_CONNECTIONS_PER_CALL = 2  # log_batch: an outer session and the one _log_metrics opens


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


def request_threads() -> int:
    """Request threads per worker: ``MLTRACK_SERVER_THREADS``, else half the connection pool.

    The pool is MLflow's (``MLFLOW_SQLALCHEMYSTORE_POOL_SIZE`` +
    ``MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW``, SQLAlchemy's 5 + 10 when unset).
    """
    explicit = _env_int(THREADS_ENV, 0)
    if explicit > 0:
        return explicit
    pool = _env_int("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", _SQLALCHEMY_POOL_SIZE) + _env_int(
        "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", _SQLALCHEMY_MAX_OVERFLOW
    )
    return max(1, pool // _CONNECTIONS_PER_CALL)


class BoundedThreads:
    """ASGI wrapper that caps the worker's thread pool before the first call reaches MLflow.

    anyio keeps the default thread limiter per event loop, so it is set from inside the
    loop, on the first ASGI call (the lifespan start-up when uvicorn sends it).
    """

    def __init__(self, app: Any, threads: int) -> None:
        self.app = app
        self.threads = threads
        self._bounded = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self._bounded:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
            self._bounded = True
        await self.app(scope, receive, send)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def allow_extra_hosts() -> None:
    """Add ``MLTRACK_SERVER_ALLOWED_HOSTS`` to the Host names MLflow's app will accept.

    MLflow reads ``MLFLOW_SERVER_ALLOWED_HOSTS`` when its app is created and, when it is
    set, accepts only those names; so the extra names are added to it (or to MLflow's
    defaults: localhost and private IPs) before the app is imported.
    """
    extra = _split(os.environ.get(ALLOWED_HOSTS_ENV, ""))
    if not extra:
        return
    base = _split(os.environ.get(_MLFLOW_ALLOWED_HOSTS_ENV, "")) or _mlflow_default_hosts()
    merged = list(dict.fromkeys([*base, *extra]))
    os.environ[_MLFLOW_ALLOWED_HOSTS_ENV] = ",".join(merged)


def _mlflow_default_hosts() -> list[str]:
    """MLflow's default allowed hosts, read without importing the ``mlflow.server`` package.

    Importing that package creates MLflow's Flask app, whose Host check reads the allowed
    names then, once: before the extra names are in the environment.
    """
    import importlib.util

    mlflow_spec = importlib.util.find_spec("mlflow")
    if mlflow_spec is None or mlflow_spec.origin is None:
        raise ImportError("MLflow is not installed")
    path = os.path.join(os.path.dirname(mlflow_spec.origin), "server", "security_utils.py")
    spec = importlib.util.spec_from_file_location("_mltrack_mlflow_security_utils", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.get_default_allowed_hosts())


def plain_app() -> BoundedThreads:
    """MLflow's tracking server app (``mlflow.server.fastapi_app:app``), bounded."""
    allow_extra_hosts()
    from mlflow.server.fastapi_app import app

    return BoundedThreads(app, request_threads())


def throwaway_app() -> BoundedThreads:
    """:func:`plain_app` for a throwaway store (docs builds, tests), made cheaper per call.

    A throwaway server keeps nothing past its run, so nothing needs to survive a power
    cut: each commit skips SQLite's fsync calls, which cost 2.5 ms on a busy VM (1 ms of
    it CPU) against 0.07 ms. And the REST calls MLflow's Flask app answers skip the
    FastAPI layer above it (:class:`FlaskRoutesDirect`). Never for a team server: its
    store is the team's data, and it runs MLflow's app as MLflow ships it.
    """
    sqlite_without_fsync()
    allow_extra_hosts()
    from mlflow.server.fastapi_app import app

    return BoundedThreads(FlaskRoutesDirect.around(app), request_threads())


class FlaskRoutesDirect:
    """ASGI wrapper: a request for one of MLflow's Flask routes goes straight to Flask.

    MLflow's FastAPI app serves a few routes itself (artifacts, OTLP, jobs, gateway) and
    mounts its Flask app at ``/`` for every other one. A Flask-bound call first crosses
    FastAPI's router and middleware stack (Host and CORS checks, security headers, two
    ``BaseHTTPMiddleware`` functions for workspaces and gateway timing) and then a WSGI
    bridge that streams through a task group: a third of the server's CPU per call
    (``scripts/bench/server_writes.py``). The Flask app does each of those checks itself
    (MLflow installs its own Host check, CORS, cross-origin block, security headers and
    workspace hooks on it when it runs as a server), so those calls go to it directly,
    in a thread as before, their responses sent whole (a throwaway store's are small).
    Anything a FastAPI route matches, even by path alone, and every non-HTTP scope
    (lifespan) still goes through the whole app, exactly as before.
    """

    def __init__(self, app: Any, flask_app: Any, native_routes: list[Any]) -> None:
        import anyio.to_thread
        from starlette.middleware.wsgi import build_environ
        from starlette.routing import Match

        self.app = app
        self._flask_app = flask_app
        self._native = native_routes
        self._no_match = Match.NONE
        self._build_environ = build_environ
        self._run_in_thread = anyio.to_thread.run_sync

    @classmethod
    def around(cls, app: Any) -> Any:
        """Wrap MLflow's FastAPI ``app``; ``app`` itself where the shortcut would not be
        the same (MLflow's Flask app without its own checks, or a layout this does not
        recognise)."""
        import flask
        import mlflow.server
        from starlette.routing import Mount

        mounts = [r for r in app.router.routes if isinstance(r, Mount) and r.path == ""]
        flask_app = getattr(mounts[0].app, "app", None) if len(mounts) == 1 else None
        if not mlflow.server.is_running_as_server or not isinstance(flask_app, flask.Flask):
            return app
        native = [r for r in app.router.routes if not isinstance(r, Mount)]
        return cls(app, flask_app, native)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._is_native(scope):
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        environ = self._build_environ(scope, b"".join(chunks))
        status, headers, body = await self._run_in_thread(self._call_flask, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _is_native(self, scope: Any) -> bool:
        return any(route.matches(scope)[0] is not self._no_match for route in self._native)

    def _call_flask(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None  # WSGI's write(): Flask never calls it

        result = self._flask_app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = started
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return int(status.split(" ", 1)[0]), raw, body


def sqlite_without_fsync() -> None:
    """Every SQLite connection SQLAlchemy opens in this process from now on skips fsync."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _no_fsync):
        event.listen(Engine, "connect", _no_fsync)


def _no_fsync(connection: Any, record: Any) -> None:
    import sqlite3

    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA synchronous=OFF")


def auth_app() -> BoundedThreads:
    """MLflow's ``basic-auth`` app (``mlflow.server.auth:create_app``), bounded."""
    allow_extra_hosts()
    from mlflow.server.auth import create_app

    return BoundedThreads(create_app(), request_threads())


def uvicorn_command(
    host: str,
    port: int,
    workers: int = 1,
    auth: bool = False,
    python: str = sys.executable,
    app_dir: str | None = None,
    factory: str | None = None,
) -> list[str]:
    """The command line that runs the bounded MLflow app under uvicorn.

    Args:
        host: bind address.
        port: TCP port.
        workers: uvicorn worker processes.
        auth: run MLflow's ``basic-auth`` app instead of the plain tracking server.
        python: the interpreter (``python`` inside a container image).
        app_dir: a folder holding a copy of this file, for an environment without mltrack
            installed (a stock MLflow image): the app is then ``serverapp:...`` from there.
        factory: another app factory of this module (``mltrack.serverapp:throwaway_app``).
    """
    app = factory or (AUTH_APP if auth else PLAIN_APP)
    location: list[str] = []
    if app_dir is not None:
        app = app.removeprefix("mltrack.")
        location = ["--app-dir", app_dir]
    return [
        python,
        "-m",
        "uvicorn",
        *location,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--factory",
        app,
    ]
