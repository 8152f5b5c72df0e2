"""The prepare step (schema, admin user, connection limit) and the worker plan."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from mltrack.errors import ConfigError, ServerStartError
from mltrack.serverapp import (
    request_threads,
)
from mltrack.teamserver._config import TeamServerConfig
from mltrack.teamserver._uris import _scheme
from mltrack.uris import redact_uri


@dataclass(frozen=True)
class ConnectionLimit:
    """How many connections a PostgreSQL server takes, read before the workers start.

    Attributes:
        max_connections: the server's ``max_connections``.
        free: what is left for new clients: ``max_connections`` less the reserved slots
            and the connections other clients hold now.
    """

    max_connections: int
    free: int


def prepare(
    config: TeamServerConfig, env: dict[str, str], fork: bool = False
) -> ConnectionLimit | None:
    """Create/verify the schema and bootstrap the admin user, once, before any worker.

    Args:
        config: the server settings.
        env: the server's environment, the prepare step's too.
        fork: run it in a fork of this process (:func:`~mltrack.teamserver._fork.run_forked`;
            the caller checked :func:`~mltrack.teamserver._fork.server_fork_ready`) instead
            of a new interpreter.

    Returns:
        The database's connection limit (PostgreSQL), else None.

    Raises:
        ServerStartError: the database cannot be reached or initialised, or the admin
            password is missing (message without credentials).
    """
    if fork:
        from mltrack.teamserver import _prepare_db
        from mltrack.teamserver._fork import run_forked

        done = run_forked(
            _prepare_db.main, env=env, cwd=config.state_dir, timeout=600, name=b"mltrack-prepare"
        )
    else:
        done = subprocess.run(
            [sys.executable, "-m", "mltrack.teamserver._prepare_db"],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
            cwd=config.state_dir,
            check=False,
        )
    if done.returncode != 0:
        reason = _scrub((done.stderr.strip().splitlines() or ["unknown error"])[-1], config, env)
        hint = ""
        if "admin" in reason.lower() and "password" in reason.lower():
            hint = "; set MLFLOW_AUTH_ADMIN_PASSWORD for the first start with --auth"
        elif "OperationalError" in reason or "connect" in reason.lower():
            hint = "; check the --backend host, port, database name and credentials"
        raise ServerStartError(
            f"could not prepare {redact_uri(config.backend)}: {reason[:400]}{hint}"
        )
    for line in done.stdout.splitlines():
        if line.startswith("MLTRACK_DB_CONNECTIONS "):
            _, max_connections, free = line.split()
            return ConnectionLimit(int(max_connections), int(free))
    return None


_AUTO_WORKERS_MAX = 16  # each worker is a Python process with MLflow loaded (~250 MB)
_SPARE_CONNECTIONS = 5  # for psql, migrations and the odd maintenance job
# Per worker: log_batch holds two pooled connections per thread, and the auth app's and the
# registry's engines keep a few open. Measured at 7 threads under 64 concurrent log_batch
# calls: at most 13 connections per worker, 17 with basic auth on the same database.
_CONNECTIONS_PER_THREAD = 2
_CONNECTIONS_PER_WORKER = 3


def plan_workers(
    backend: str, workers: int | None, limit: ConnectionLimit | None, cores: int | None = None
) -> tuple[int, int, str]:
    """Choose worker processes and request threads per worker for a server.

    Without ``--workers``: sqlite gets 2 (its one write lock serialises more), other
    databases one per core (at least 2, at most 16). Request threads per worker are half
    of MLflow's connection pool (:func:`mltrack.serverapp.request_threads`), fewer when
    PostgreSQL has not that many connections free for all workers; automatic workers are
    reduced before threads go below 2.

    Args:
        backend: the database URI (its scheme decides).
        workers: what ``--workers`` asked for, or None.
        limit: the PostgreSQL server's connections (from :func:`prepare`), or None.
        cores: CPU cores to plan for (default: this machine's).

    Returns:
        ``(workers, threads, note)``; ``note`` says how they were chosen, for printing.

    Raises:
        ConfigError: PostgreSQL has too few connections free for the workers asked for.
    """
    sqlite = _scheme(backend) == "sqlite"
    auto = workers is None
    if workers is None:
        workers = 2 if sqlite else max(2, min(cores or os.cpu_count() or 2, _AUTO_WORKERS_MAX))
    threads = request_threads()
    why = "one per core" if auto and not sqlite else ""
    if limit is not None:
        budget = limit.free - _SPARE_CONNECTIONS

        def threads_that_fit(count: int) -> int:
            return (budget // count - _CONNECTIONS_PER_WORKER) // _CONNECTIONS_PER_THREAD

        scarce = f"PostgreSQL has {limit.free} of {limit.max_connections} connections free"
        while auto and workers > 1 and threads_that_fit(workers) < 2:
            workers, why = workers - 1, scarce
        if threads_that_fit(workers) < 1:
            need = workers * (_CONNECTIONS_PER_WORKER + _CONNECTIONS_PER_THREAD)
            raise ConfigError(
                f"--workers {workers} needs about {need + _SPARE_CONNECTIONS} PostgreSQL "
                f"connections but only {limit.free} of max_connections "
                f"{limit.max_connections} are free; lower --workers or raise max_connections"
            )
        if threads_that_fit(workers) < threads:
            threads, why = threads_that_fit(workers), scarce
    note = f"{workers} ({threads} request threads each" + (f"; {why})" if why else ")")
    return workers, threads, note


def _password(uri: str) -> str | None:
    try:
        return urllib.parse.urlsplit(uri).password
    except ValueError:
        return None


def _scrub(text: str, config: TeamServerConfig, env: dict[str, str]) -> str:
    """Remove every secret we know of from a message that came from a child process."""
    for uri in (config.backend, config.auth_db or ""):
        password = _password(uri) if uri else None
        if password:
            text = text.replace(urllib.parse.unquote(password), "***").replace(password, "***")
    for key in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        value = env.get(key)
        if value:
            text = text.replace(value, "***")
    return text
