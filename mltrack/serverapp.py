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

Used as uvicorn factories (``--factory``): ``mltrack.serverapp:plain_app`` for the tracking
server, ``mltrack.serverapp:auth_app`` with MLflow's ``basic-auth`` app.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = [
    "AUTH_APP",
    "PLAIN_APP",
    "THREADS_ENV",
    "BoundedThreads",
    "auth_app",
    "plain_app",
    "request_threads",
    "uvicorn_command",
]

PLAIN_APP = "mltrack.serverapp:plain_app"
AUTH_APP = "mltrack.serverapp:auth_app"
THREADS_ENV = "MLTRACK_SERVER_THREADS"
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


def plain_app() -> BoundedThreads:
    """MLflow's tracking server app (``mlflow.server.fastapi_app:app``), bounded."""
    from mlflow.server.fastapi_app import app

    return BoundedThreads(app, request_threads())


def auth_app() -> BoundedThreads:
    """MLflow's ``basic-auth`` app (``mlflow.server.auth:create_app``), bounded."""
    from mlflow.server.auth import create_app

    return BoundedThreads(create_app(), request_threads())


def uvicorn_command(host: str, port: int, workers: int = 1, auth: bool = False) -> list[str]:
    """The command line that runs the bounded MLflow app under uvicorn.

    Args:
        host: bind address.
        port: TCP port.
        workers: uvicorn worker processes.
        auth: run MLflow's ``basic-auth`` app instead of the plain tracking server.
    """
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--factory",
        AUTH_APP if auth else PLAIN_APP,
    ]
