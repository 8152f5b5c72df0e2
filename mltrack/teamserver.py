"""A team MLflow tracking server: PostgreSQL (or sqlite), proxied artifacts, basic auth.

``ml server`` stands on MLflow's own production setup rather than a home-made one: the
same FastAPI/uvicorn app ``mlflow server`` runs, the same environment contract
(``_MLFLOW_SERVER_*`` variables), MLflow's ``basic-auth`` app for users and
per-experiment permissions, and ``mlflow db upgrade`` for schema migrations. What mltrack
adds is the glue a team needs around it:

* one validated :class:`TeamServerConfig` (backend URI, artifact store, auth, bind address);
* a *prepare* step that creates or checks the database schema and bootstraps the admin
  user **once**, before any worker starts, so several workers never race on migrations
  and a bad URI or a missing admin password is one clear error instead of crashing workers;
* a generated auth config (``basic_auth.ini``) and a stable Flask secret key kept in the
  server's state directory, readable by its owner only;
* :func:`check_server`: health, authentication and a write/read round trip against any
  running server; :func:`migrate`: a timestamped backup of a sqlite database, then
  ``mlflow db upgrade``;
* credentials never leave the process environment: every URI that is shown is passed
  through :func:`redact_uri` first.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mltrack.serverapp
from mltrack._process import keeper_command, kill_group, owned_tempdir
from mltrack.errors import ConfigError, ServerStartError, TrackingServerError
from mltrack.serverapp import (
    ALLOWED_HOSTS_ENV,
    AUTH_APP,
    THREADS_ENV,
    request_threads,
    uvicorn_command,
)
from mltrack.transport import INVALID_HOST, host_rejected, strip_userinfo

__all__ = [
    "AUTH_APP",
    "PERMISSIONS",
    "CheckResult",
    "ConnectionLimit",
    "MigrationResult",
    "TeamServer",
    "TeamServerConfig",
    "auth_status",
    "check_server",
    "client_instructions",
    "create_user",
    "grant_permission",
    "kubernetes_manifests",
    "migrate",
    "plan_workers",
    "redact_uri",
    "start_team_server",
    "strip_userinfo",
    "team_server",
]

_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_REMOTE_ARTIFACT_SCHEMES = ("s3", "gs", "wasbs", "hdfs", "sftp", "ftp", "abfss", "oss")
_ANY_INTERFACE = ("0.0.0.0", "", "::")
# Tells MLflow's workers the admin user was bootstrapped already (by the prepare step).
_ADMIN_BOOTSTRAPPED = {"_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED": "true"}
_CHECK_EXPERIMENT = "mltrack-server-check"


# --------------------------------------------------------------------------- helpers
def redact_uri(uri: str) -> str:
    """Hide the password in a URI: ``postgresql://bob:***@db/mlflow``."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _scheme(uri: str) -> str:
    return uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""


def _sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///path`` URI (None for in-memory or non-sqlite URIs)."""
    if _scheme(uri) != "sqlite":
        return None
    path = uri.split(":///", 1)[1] if ":///" in uri else ""
    if not path or path == ":memory:":
        return None
    return Path(path)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host if host not in ("0.0.0.0", "") else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


# --------------------------------------------------------------------------- config
@dataclass
class TeamServerConfig:
    """Everything ``ml server`` needs to start MLflow for a team.

    Attributes:
        backend: SQLAlchemy URI of the tracking and registry database, e.g.
            ``postgresql://mlflow:PASSWORD@db:5432/mlflow`` or ``sqlite:///mlflow.db``.
        artifacts: where artifacts are stored: a directory or an object-store URI
            (``s3://bucket/path``). With ``serve_artifacts`` clients upload through the
            server (``mlflow-artifacts:/``) and need no storage credentials.
        serve_artifacts: proxy artifact uploads/downloads through the tracking server.
        auth: enable MLflow's ``basic-auth`` app (users, per-experiment permissions).
        auth_db: SQLAlchemy URI of the users/permissions database; default: a sqlite file
            in ``state_dir`` (or the backend database when it is PostgreSQL).
        default_permission: what users get on experiments they were not granted anything
            on: ``READ`` (MLflow's default), ``EDIT``, ``MANAGE`` or ``NO_PERMISSIONS``.
        host: bind address; ``127.0.0.1`` keeps the server private to this machine,
            ``0.0.0.0`` exposes it to the network (put TLS in front of it).
        allowed_hosts: host names clients may use in the server's URL, besides what MLflow
            accepts by itself (localhost and private IPs); MLflow answers any other name
            with 403 "Invalid Host header" (its DNS-rebinding protection). Listening on all
            interfaces adds this machine's host name and FQDN (:meth:`host_names`); ``*``
            accepts any name.
        port: TCP port; 0 picks a free one.
        workers: uvicorn worker processes; None picks them (:func:`plan_workers`). Each
            runs MLflow's Python request handling on one core; PostgreSQL takes their
            writes concurrently, so on PostgreSQL one worker per core writes fastest
            (sqlite serialises writes whatever the count).
        state_dir: directory for the generated auth config, secret key and log.
    """

    backend: str = "sqlite:///mlflow.db"
    artifacts: str = "./mlartifacts"
    serve_artifacts: bool = True
    auth: bool = False
    auth_db: str | None = None
    default_permission: str = "READ"
    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    port: int = 5000
    workers: int | None = None
    state_dir: Path = field(default_factory=lambda: Path(".mltrack") / "server")
    # Filled in at start by plan_workers: request threads per worker and how they were chosen.
    threads: int | None = field(default=None, repr=False)
    workers_note: str = field(default="", repr=False)

    def validate(self) -> None:
        """Check the values before anything starts.

        Raises:
            ConfigError: a value is invalid; the message names it and the fix.
        """
        scheme = _scheme(self.backend)
        if scheme not in _SQL_SCHEMES:
            raise ConfigError(
                f"--backend {redact_uri(self.backend)!r} is not a database URI; use "
                "postgresql://USER:PASSWORD@HOST:5432/DB or sqlite:///mlflow.db"
            )
        if scheme == "postgresql":
            self.backend = _postgres_driver(self.backend)
            if self.auth_db:
                self.auth_db = _postgres_driver(self.auth_db)
        if scheme == "mysql":
            _require_module("pymysql", "MySQL", "pymysql")
        if self.auth_db is not None and _scheme(self.auth_db) not in _SQL_SCHEMES:
            raise ConfigError(f"--auth-db {redact_uri(self.auth_db)!r} is not a database URI")
        art_scheme = _scheme(self.artifacts) if "://" in self.artifacts else ""
        if art_scheme and art_scheme not in (*_REMOTE_ARTIFACT_SCHEMES, "file"):
            raise ConfigError(
                f"--artifacts {self.artifacts!r}: unsupported scheme {art_scheme!r}; use a "
                f"directory or one of {', '.join(_REMOTE_ARTIFACT_SCHEMES)}"
            )
        if self.auth:
            _require_module("flask_wtf", "basic-auth app's CSRF", "flask-wtf")
        if self.default_permission not in ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS"):
            raise ConfigError(
                f"default permission {self.default_permission!r} is invalid; use READ, EDIT, "
                "MANAGE or NO_PERMISSIONS"
            )
        _check_host_names(self.allowed_hosts)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port} is out of range; use 1-65535 (0 = any free)")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers {self.workers} must be at least 1")

    def host_names(self) -> list[str]:
        """Host-header patterns added to MLflow's own (fnmatch, as MLflow matches them).

        The ``allowed_hosts`` names, plus this machine's host name and FQDN when the server
        listens on all interfaces (the URL ``ml server`` prints for the team uses the host
        name), or the bind address when it is a specific one; each also with any port.
        """
        names = list(self.allowed_hosts)
        if self.host in _ANY_INTERFACE:
            names += [socket.gethostname(), socket.getfqdn()]
        elif self.host not in ("127.0.0.1", "localhost", "::1"):
            names.append(self.host)
        return _host_patterns(names)

    @property
    def artifacts_location(self) -> str:
        """The artifact store as MLflow expects it (absolute path for local directories)."""
        if "://" in self.artifacts:
            return self.artifacts
        return str(Path(self.artifacts).expanduser().resolve())

    @property
    def resolved_auth_db(self) -> str:
        if self.auth_db:
            return self.auth_db
        if _scheme(self.backend) == "postgresql":
            return self.backend  # auth tables have their own alembic version table
        return f"sqlite:///{(self.state_dir / 'basic_auth.db').resolve()}"

    def describe(self) -> dict[str, str]:
        """A credential-free summary for printing."""
        artifacts = self.artifacts_location
        mode = "proxied by the server" if self.serve_artifacts else "clients write directly"
        summary = {
            "backend": redact_uri(self.backend),
            "artifacts": f"{redact_uri(artifacts)} ({mode})",
            "auth": (
                f"basic-auth, default permission {self.default_permission}, users in "
                f"{redact_uri(self.resolved_auth_db)}"
                if self.auth
                else "off (anyone who can reach the port can read and write)"
            ),
            "workers": self.workers_note or str(self.workers or "auto"),
        }
        hosts = self.host_names()
        if hosts:
            summary["hosts"] = _describe_hosts(hosts)
        return summary


def _check_host_names(names: tuple[str, ...]) -> None:
    for name in names:
        if not name or any(c in name for c in "/, \t@"):
            raise ConfigError(
                f"--allowed-hosts {name!r} is not a host name; give names as they appear "
                "in the URL, comma-separated, e.g. mlflow.acme.internal,mlflow:5000"
            )


def _host_patterns(names: list[str]) -> list[str]:
    """Each name once, and also with any port when it names none (MLflow's fnmatch)."""
    patterns: list[str] = []
    for name in dict.fromkeys(n for n in names if n):
        patterns.append(name)
        if name != "*" and ":" not in name:  # no port given (and not an IPv6 address)
            patterns.append(f"{name}:*")
    return patterns


def _describe_hosts(patterns: list[str]) -> str:
    if "*" in patterns:
        return "any name in the URL (--allowed-hosts '*': no DNS-rebinding protection)"
    names = ", ".join(p for p in patterns if not p.endswith(":*"))
    return f"URLs naming {names}, localhost or a private IP (--allowed-hosts adds names)"


def _postgres_driver(uri: str) -> str:
    """Pick an installed driver for a plain ``postgresql://`` URI.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; when only psycopg2 is installed
    (the ``psycopg2-binary`` wheel) the URI is pointed at it instead.
    """
    from importlib.util import find_spec

    if not uri.startswith("postgresql://"):
        return uri
    if find_spec("psycopg") is not None:
        return uri
    if find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + uri[len("postgresql://") :]
    raise ConfigError(
        "no PostgreSQL driver is installed; `uv add psycopg2-binary` (or `pip install "
        "psycopg2-binary`)"
    )


def _require_module(module: str, what: str, package: str) -> None:
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise ConfigError(
            f"the {what} driver is not installed; `uv add {package}` (or `pip install {package}`)"
        )


# --------------------------------------------------------------------------- environment
def _secret_key(state_dir: Path) -> str:
    """MLFLOW_FLASK_SERVER_SECRET_KEY, or one generated once and kept in ``state_dir``."""
    if os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        return os.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    path = state_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def _write_auth_ini(config: TeamServerConfig) -> Path:
    """MLflow's basic_auth.ini with our database and default permission (no password)."""
    path = config.state_dir / "basic_auth.ini"
    admin = os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin"
    text = (
        "[mlflow]\n"
        f"default_permission = {config.default_permission}\n"
        f"database_uri = {config.resolved_auth_db.replace('%', '%%')}\n"
        f"admin_username = {admin}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Without a cache every request pays a PBKDF2 hash (~0.1 s of CPU): a team logging
        # metrics from many processes needs it. A changed password is honoured by every
        # worker after at most this many seconds.
        "auth_cache_ttl_seconds = 30\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _mlflow_server_vars(backend: str, artifacts: str, serve_artifacts: bool) -> dict[str, str]:
    """What ``mlflow server`` hands the app in its workers: the stores, through variables."""
    env = {
        "_MLFLOW_SERVER_FILE_STORE": backend,
        "_MLFLOW_SERVER_REGISTRY_STORE": backend,
        "_MLFLOW_SGI_NAME": "uvicorn",
        # Background jobs (GenAI judges) need extra services; a tracking server does not.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    if serve_artifacts:
        env["_MLFLOW_SERVER_SERVE_ARTIFACTS"] = "true"
        env["_MLFLOW_SERVER_ARTIFACT_ROOT"] = "mlflow-artifacts:/"
        env["_MLFLOW_SERVER_ARTIFACT_DESTINATION"] = artifacts
    else:
        env["_MLFLOW_SERVER_ARTIFACT_ROOT"] = artifacts
    return env


def server_env(config: TeamServerConfig) -> dict[str, str]:
    """The environment of the server processes (MLflow's ``mlflow server`` contract)."""
    env = dict(os.environ)
    # A server inherits nothing from the client side of the caller's environment.
    for key in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
    ):
        env.pop(key, None)
    env.update(
        _mlflow_server_vars(config.backend, config.artifacts_location, config.serve_artifacts)
    )
    env["PYTHONWARNINGS"] = "ignore"
    hosts = config.host_names()
    if hosts:
        env[ALLOWED_HOSTS_ENV] = ",".join(hosts)
    if config.auth:
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(_write_auth_ini(config).resolve())
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = _secret_key(config.state_dir)
    return env


# --------------------------------------------------------------------------- prepare
_PREPARE_CODE = """
import os, sys
try:
    # One quick connection first: MLflow itself retries a dead database for minutes.
    import sqlalchemy
    uri = os.environ["_MLFLOW_SERVER_FILE_STORE"]
    args = {"connect_timeout": 10} if uri.startswith("postgresql") else {}
    engine = sqlalchemy.create_engine(uri, connect_args=args)
    conn = engine.connect()
    if uri.startswith("postgresql"):
        # One prepare at a time per database (servers or pods starting together on a new
        # one): the next waits here, then finds the schema made. Held until this exits.
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(hashtext('mltrack-prepare'))"))
        # What the workers may open: ml server sizes them to it (plan_workers).
        setting = lambda name: int(conn.execute(sqlalchemy.text(
            "SELECT coalesce((SELECT setting FROM pg_settings WHERE name = :n), '0')"
        ), {"n": name}).scalar())
        others = conn.execute(sqlalchemy.text(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()"
        )).scalar()
        limit = setting("max_connections")
        free = (limit - setting("superuser_reserved_connections")
                - setting("reserved_connections") - others)
        print("MLTRACK_DB_CONNECTIONS", limit, free)
    conn.commit()  # no transaction left open beside the migrations; the lock stays
    from mlflow.server.handlers import initialize_backend_stores
    initialize_backend_stores(
        os.environ["_MLFLOW_SERVER_FILE_STORE"],
        os.environ["_MLFLOW_SERVER_REGISTRY_STORE"],
        os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"],
    )
    if os.environ.get("MLFLOW_AUTH_CONFIG_PATH"):
        from mlflow.server.auth import bootstrap_admin_user
        bootstrap_admin_user()
except Exception as exc:
    lines = [l for l in str(exc).strip().splitlines() if l.strip()]
    print(type(exc).__name__ + ": " + (lines[0] if lines else ""), file=sys.stderr)
    sys.exit(3)
"""


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


def prepare(config: TeamServerConfig, env: dict[str, str]) -> ConnectionLimit | None:
    """Create/verify the schema and bootstrap the admin user, once, before any worker.

    Returns:
        The database's connection limit (PostgreSQL), else None.

    Raises:
        ServerStartError: the database cannot be reached or initialised, or the admin
            password is missing (message without credentials).
    """
    done = subprocess.run(
        [sys.executable, "-c", _PREPARE_CODE],
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


# --------------------------------------------------------------------------- server
@dataclass
class TeamServer:
    """A running team server started by :func:`start_team_server`.

    Attributes:
        url: base URL clients use as ``MLFLOW_TRACKING_URI``.
        config: what it was started with.
        process: the uvicorn supervisor (leader of its own process group).
        startup_s: seconds from launch to the first healthy answer (after prepare).
    """

    url: str
    config: TeamServerConfig
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)
    startup_s: float = 0.0
    _owned_state: bool = field(default=False, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.config.state_dir / "server.log"

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return _scrub(self.log_path.read_text(errors="replace")[-chars:], self.config, self.env)
        return ""

    def stop(self) -> None:
        """Stop every server process; remove the state directory if it was temporary."""
        if self._stopped:
            return
        self._stopped = True
        _kill_group(self.process)
        if self._owned_state:
            shutil.rmtree(self.config.state_dir, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same port and database (no prepare step)."""
        _kill_group(self.process)
        self.process = _launch(self.config, self.env)
        self.startup_s = _wait_healthy(self)
        self._stopped = False

    def __enter__(self) -> TeamServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc, grace_s=15)  # several uvicorn workers take longer to drain


def _launch(config: TeamServerConfig, env: dict[str, str]) -> subprocess.Popen[bytes]:
    assert config.workers is not None, "plan_workers() decides them before the launch"
    # Under a keeper: the workers end with this process, even when it is SIGKILLed.
    cmd = keeper_command(
        uvicorn_command(config.host, config.port, config.workers, auth=config.auth)
    )
    log = open(config.state_dir / "server.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=config.state_dir,
            start_new_session=True,
        )
    finally:
        log.close()


def _local_url(config: TeamServerConfig) -> str:
    host = "127.0.0.1" if config.host in _ANY_INTERFACE else config.host
    return f"http://{host}:{config.port}"


def _wait_healthy(server: TeamServer, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while True:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"the server exited with code {server.process.returncode}\n"
                f"--- server log ---\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise ServerStartError(
                f"{server.url}/health did not answer within {timeout:.0f} s\n"
                f"--- server log ---\n{server.log_tail()}"
            )
        time.sleep(0.1)


def _require_admin_password_on_first_start(config: TeamServerConfig) -> None:
    # Known before any import when the users database is a sqlite file not created yet;
    # otherwise MLflow's bootstrap says it (one line, via prepare).
    users_db = _sqlite_path(config.resolved_auth_db) if config.auth else None
    first_start = users_db is not None and not users_db.exists()
    if first_start and not os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
        raise ConfigError(
            "first start with --auth: set MLFLOW_AUTH_ADMIN_PASSWORD (and optionally "
            "MLFLOW_AUTH_ADMIN_USERNAME, default 'admin') to create the admin user"
        )


def start_team_server(config: TeamServerConfig, wait: bool = True) -> TeamServer:
    """Validate, prepare and start a team server; return when it answers ``/health``.

    Args:
        config: the server settings. A ``state_dir`` that does not exist yet is created;
            if it is None-like (empty path) a temporary one is used and removed on stop.
        wait: wait for ``/health`` before returning.

    Raises:
        ConfigError: invalid settings.
        ServerStartError: the port is taken, the database cannot be prepared, or the
            server did not become healthy (the message holds the log tail).
    """
    config.validate()
    owned = False
    if not str(config.state_dir) or str(config.state_dir) == ".":
        config.state_dir = owned_tempdir("mltrack-teamserver-")
        owned = True
    config.state_dir = Path(config.state_dir).expanduser().resolve()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        config.state_dir.chmod(0o700)  # holds the secret key and maybe the users database
        if config.port == 0:
            config.port = _free_port(config.host)
        elif _port_in_use(config.host, config.port):
            raise ServerStartError(
                f"port {config.port} on {config.host} is already in use; pick another with --port"
            )
        if "://" not in config.artifacts:
            Path(config.artifacts_location).mkdir(parents=True, exist_ok=True)
        sqlite_file = _sqlite_path(config.backend)
        if sqlite_file is not None:
            sqlite_file = sqlite_file.expanduser().resolve()
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            if not sqlite_file.exists():
                # A migrated empty schema, copied: seconds instead of every migration.
                from mltrack.localserver import template_db

                shutil.copyfile(template_db(), sqlite_file)
            config.backend = f"sqlite:///{sqlite_file}"
        _require_admin_password_on_first_start(config)
        env = server_env(config)
        limit = prepare(config, env)
        config.workers, config.threads, config.workers_note = plan_workers(
            config.backend, config.workers, limit
        )
        env[THREADS_ENV] = str(config.threads)
        if config.auth:
            env.update(_ADMIN_BOOTSTRAPPED)  # done once above, not per worker
        proc = _launch(config, env)
    except BaseException:
        if owned:
            shutil.rmtree(config.state_dir, ignore_errors=True)
        raise
    server = TeamServer(_local_url(config), config, proc, env, _owned_state=owned)
    if wait:
        try:
            server.startup_s = _wait_healthy(server)
        except BaseException:
            server.stop()
            raise
    return server


@contextlib.contextmanager
def team_server(config: TeamServerConfig) -> Iterator[TeamServer]:
    """Context manager form of :func:`start_team_server`; always stops the server."""
    server = start_team_server(config)
    try:
        yield server
    finally:
        server.stop()


def client_instructions(config: TeamServerConfig, public_url: str | None = None) -> list[str]:
    """Shell lines a team member runs to use the server (no secrets in them)."""
    url = public_url or (
        f"http://{socket.gethostname()}:{config.port}"
        if config.host in _ANY_INTERFACE
        else _local_url(config)
    )
    lines = [f"export MLFLOW_TRACKING_URI={url}"]
    if config.auth:
        lines += [
            "export MLFLOW_TRACKING_USERNAME=<your user>",
            "export MLFLOW_TRACKING_PASSWORD=<your password>   # or a secret manager",
        ]
    lines.append("ml doctor            # checks reachability and credentials")
    lines.append(f"ml server --check {url}")
    return lines


# --------------------------------------------------------------------------- check
@dataclass
class CheckResult:
    """One line of ``ml server --check``."""

    name: str
    ok: bool
    detail: str


def _auth_header(username: str | None, password: str | None, token: str | None) -> dict[str, str]:
    if username and password is not None:
        raw = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {}


def _request(
    url: str,
    method: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, Any], str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode(errors="replace")
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        status = int(exc.code)
    try:
        payload = json.loads(text) if text.strip().startswith("{") else {}
    except ValueError:
        payload = {}
    return status, payload, text


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[0] if lines else "")[:200]


def _client_credentials(
    username: str | None, password: str | None, token: str | None
) -> tuple[str | None, str | None, str | None]:
    """Explicit credentials, else MLflow's client variables (``MLFLOW_TRACKING_*``)."""
    env = os.environ.get
    return (
        username if username is not None else env("MLFLOW_TRACKING_USERNAME"),
        password if password is not None else env("MLFLOW_TRACKING_PASSWORD"),
        token if token is not None else env("MLFLOW_TRACKING_TOKEN"),
    )


def check_server(
    url: str,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> list[CheckResult]:
    """Verify a running server: health, authentication, a write/read round trip.

    Credentials default to ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
    ``MLFLOW_TRACKING_TOKEN``). The round trip creates a run in the experiment
    ``mltrack-server-check-<user>``, logs a metric, reads it back and deletes the run.

    Raises:
        TrackingServerError: the server is unreachable, refuses the credentials or the
            host name in ``url`` (the message says which, on one line, without the
            password).
    """
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"{url!r} is not a server URL; use http://HOST:PORT")
    username, password, token = _client_credentials(username, password, token)
    headers = _auth_header(username, password, token)
    results: list[CheckResult] = []

    started = time.monotonic()
    try:
        status, _, text = _request(base + "/health", "GET", {}, timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingServerError(
            f"{base} is unreachable ({reason}); is the server running and the URL right?"
        ) from None
    if status != 200:
        raise TrackingServerError(f"{base}/health answered {status}: {_first_line(text)}")
    results.append(CheckResult("health", True, f"/health OK in {time.monotonic() - started:.2f} s"))
    results.append(_check_auth(base, headers, username, timeout))
    # One probe experiment per user: each becomes its manager, nobody needs a grant.
    experiment = f"{_CHECK_EXPERIMENT}-{username}" if username else _CHECK_EXPERIMENT
    results.append(_round_trip(base, headers, timeout, experiment))
    return results


def _whoami(
    base: str, headers: dict[str, str], username: str | None, timeout: float
) -> tuple[int, str]:
    """Ask ``/users/current`` who these credentials are: (HTTP status, one-line detail)."""
    status, payload, text = _request(
        base + "/api/2.0/mlflow/users/current", "GET", headers, timeout=timeout
    )
    if status == 200:
        user = payload.get("user", {})
        role = "admin" if user.get("is_admin") else "user"
        return status, f"basic auth on; signed in as {user.get('username')!r} ({role})"
    if status == 401:
        if not headers:
            return status, (
                f"{base} requires authentication (401): set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
        who = f"user {username!r}" if username else "the token"
        return status, (
            f"{base} rejected the credentials of {who} (401): wrong username or password; "
            "check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"
        )
    if status == 404:
        detail = "no auth app on the server (anyone who can reach it can read and write)"
        if headers:
            detail += "; the credentials you set are ignored"
        return status, detail
    if status == 403 and INVALID_HOST in text:
        return status, str(host_rejected(base))
    return status, f"/users/current answered {status}: {_first_line(text)}"


def _check_auth(
    base: str, headers: dict[str, str], username: str | None, timeout: float
) -> CheckResult:
    status, detail = _whoami(base, headers, username, timeout)
    if status in (401, 403):  # nothing further can work: say why on one line
        raise TrackingServerError(detail)
    return CheckResult("auth", status in (200, 404), detail)


def auth_status(
    url: str,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 5.0,
) -> CheckResult:
    """Whom the server at ``url`` takes these credentials for (one cheap request).

    Credentials default to the ``MLFLOW_TRACKING_*`` variables, then to a ``user:password@``
    part of ``url``, as for MLflow's client. Never raises: a refusal (401) or no answer is
    a failed :class:`CheckResult` whose detail says why, without the password.
    """
    base, url_user, url_password = strip_userinfo(url.rstrip("/"))
    username, password, token = _client_credentials(username, password, token)
    if not username and url_user:
        username, password = url_user, url_password or ""
    headers = _auth_header(username, password, token)
    try:
        status, detail = _whoami(base, headers, username, timeout)
    except (urllib.error.URLError, OSError) as exc:
        return CheckResult("auth", False, f"could not ask {base}: {getattr(exc, 'reason', exc)}")
    return CheckResult("auth", status in (200, 404), detail)


def _round_trip(base: str, headers: dict[str, str], timeout: float, experiment: str) -> CheckResult:
    api = base + "/api/2.0/mlflow"
    started = time.monotonic()
    status, payload, text = _request(
        f"{api}/experiments/get-by-name?experiment_name={urllib.parse.quote(experiment)}",
        "GET",
        headers,
        timeout=timeout,
    )
    if status == 200:
        experiment_id = payload["experiment"]["experiment_id"]
    elif status == 404:
        status, payload, text = _request(
            f"{api}/experiments/create", "POST", headers, {"name": experiment}, timeout
        )
        if status != 200:
            return _write_failure("create experiment", status, text)
        experiment_id = payload["experiment_id"]
    else:
        return _write_failure("read experiment", status, text)
    status, payload, text = _request(
        f"{api}/runs/create",
        "POST",
        headers,
        {"experiment_id": experiment_id, "run_name": "check", "start_time": _now_ms()},
        timeout,
    )
    if status != 200:
        return _write_failure("create run", status, text)
    run_id = payload["run"]["info"]["run_id"]
    probe = float(uuid.uuid4().int % 1_000_000)
    try:
        status, _, text = _request(
            f"{api}/runs/log-batch",
            "POST",
            headers,
            {
                "run_id": run_id,
                "metrics": [{"key": "probe", "value": probe, "timestamp": _now_ms(), "step": 0}],
            },
            timeout,
        )
        if status != 200:
            return _write_failure("log metric", status, text)
        status, payload, text = _request(
            f"{api}/runs/get?run_id={run_id}", "GET", headers, None, timeout
        )
        if status != 200:
            return _write_failure("read run", status, text)
        metrics = {m["key"]: m["value"] for m in payload["run"]["data"].get("metrics", [])}
        if metrics.get("probe") != probe:
            return CheckResult(
                "round trip", False, f"wrote probe={probe}, read {metrics.get('probe')}"
            )
    finally:
        _request(f"{api}/runs/delete", "POST", headers, {"run_id": run_id}, timeout)
    return CheckResult(
        "round trip",
        True,
        f"created a run, logged and read back a metric in {time.monotonic() - started:.2f} s",
    )


def _write_failure(step: str, status: int, text: str) -> CheckResult:
    if status == 403:
        return CheckResult(
            "round trip",
            False,
            f"{step}: permission denied (403); the user may read but not write here; an "
            "admin can grant EDIT on the experiment",
        )
    return CheckResult("round trip", False, f"{step} answered {status}: {_first_line(text)}")


def _now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- migrate
@dataclass
class MigrationResult:
    """What :func:`migrate` did."""

    backend: str
    backup: Path | None
    revision_before: str | None
    revision_after: str | None


_REVISION_CODE = """
import os, sqlalchemy
from alembic.migration import MigrationContext
engine = sqlalchemy.create_engine(os.environ["MLTRACK_MIGRATE_URL"])
with engine.connect() as conn:
    print(MigrationContext.configure(conn).get_current_revision() or "")
"""

_UPGRADE_CODE = """
import os, sys
from mlflow.db import upgrade
try:
    upgrade.callback(os.environ["MLTRACK_MIGRATE_URL"])   # `mlflow db upgrade URL`
except Exception as exc:
    lines = [l for l in str(exc).strip().splitlines() if l.strip()]
    print(type(exc).__name__ + ": " + (lines[0] if lines else ""), file=sys.stderr)
    sys.exit(3)
"""


def _run_with_url(code: str, url: str) -> subprocess.CompletedProcess[str]:
    # The URL (maybe with a password) travels in the environment, never on a command line.
    env = {**os.environ, "MLTRACK_MIGRATE_URL": url, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def schema_revision(backend: str) -> str | None:
    """The alembic revision a tracking database is at (None when it has no schema)."""
    done = _run_with_url(_REVISION_CODE, backend)
    if done.returncode != 0:
        reason = _first_line(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "")
        raise TrackingServerError(f"cannot read the schema of {redact_uri(backend)}: {reason}")
    return done.stdout.strip() or None


def backup_sqlite(path: Path, backup_dir: Path | None = None) -> Path:
    """Copy a sqlite database consistently (sqlite's backup API) to a timestamped file."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target_dir = backup_dir or path.parent
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{path.name}.backup-{stamp}"
    counter = 1
    while target.exists():
        target = target_dir / f"{path.name}.backup-{stamp}-{counter}"
        counter += 1
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


def migrate(backend: str, backup_dir: Path | None = None, backup: bool = True) -> MigrationResult:
    """Upgrade a tracking database to this MLflow's schema (``mlflow db upgrade``).

    For sqlite a consistent, timestamped copy is written first (next to the database or in
    ``backup_dir``). For server databases (PostgreSQL, MySQL) take a backup with your
    database tools (``pg_dump``) before; mltrack cannot do it without their credentials.

    Raises:
        ConfigError: the URI is not a database URI or the sqlite file does not exist.
        TrackingServerError: the upgrade failed (the backup, if any, is named).
    """
    if _scheme(backend) not in _SQL_SCHEMES:
        raise ConfigError(
            f"--backend {redact_uri(backend)!r} is not a database URI; e.g. sqlite:///mlflow.db "
            "or postgresql://USER:PASSWORD@HOST:5432/DB"
        )
    if _scheme(backend) == "postgresql":
        backend = _postgres_driver(backend)  # as the server does: psycopg2 when it is all
    copy: Path | None = None
    sqlite_file = _sqlite_path(backend)
    if sqlite_file is not None:
        if not sqlite_file.is_file():
            raise ConfigError(f"no sqlite database at {sqlite_file}; check the --backend path")
        if backup:
            copy = backup_sqlite(sqlite_file, backup_dir)
    before = schema_revision(backend)
    done = _run_with_url(_UPGRADE_CODE, backend)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        password = urllib.parse.urlsplit(backend).password
        if password:
            reason = reason.replace(password, "***")
        saved = f"; the backup is {copy}" if copy else ""
        raise TrackingServerError(
            f"migration of {redact_uri(backend)} failed: {reason[:300]}{saved}"
        )
    return MigrationResult(redact_uri(backend), copy, before, schema_revision(backend))


# --------------------------------------------------------------------------- users
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


def _auth_call(
    url: str,
    username: str,
    password: str,
    path: str,
    method: str,
    body: dict[str, Any] | None,
    action: str,
) -> dict[str, Any]:
    headers = _auth_header(username, password, None)
    try:
        status, payload, text = _request(url.rstrip("/") + path, method, headers, body)
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingServerError(f"{url} is unreachable ({getattr(exc, 'reason', exc)})") from None
    if status == 200:
        return payload
    if status == 401:
        raise _denied(url, username, 401, action)
    if status == 403:
        raise _denied(url, username, 403, action)
    if status == 404 and "users" in path:
        raise TrackingServerError(f"{url} has no auth app: start it with `ml server --auth`")
    message = payload.get("message") or _first_line(text)
    raise TrackingServerError(f"{action} failed ({status}): {message}")


def _denied(url: str, username: str, status: int, action: str) -> TrackingServerError:
    from mltrack.errors import AccessDeniedError

    if status == 401:
        return AccessDeniedError(
            f"{url} rejected the credentials of user {username!r} (401): wrong username or password"
        )
    return AccessDeniedError(
        f"{url} denied user {username!r} permission to {action} (403); only admins and the "
        "resource's MANAGE holders may do this"
    )


def create_user(
    url: str, username: str, password: str, admin_user: str, admin_password: str
) -> None:
    """Create a basic-auth user (as an admin). Raises TrackingServerError on refusal."""
    _auth_call(
        url,
        admin_user,
        admin_password,
        "/api/2.0/mlflow/users/create",
        "POST",
        {"username": username, "password": password},
        f"create user {username!r}",
    )


def grant_permission(
    url: str,
    granter: str,
    granter_password: str,
    username: str,
    name: str,
    permission: str,
    *,
    model: bool = False,
) -> None:
    """Give ``username`` a permission on an experiment or a registered model (by name).

    Args:
        url: the tracking server.
        granter: a user with MANAGE on the resource (its creator has it) or an admin.
        granter_password: that user's password.
        username: who receives the permission.
        name: experiment name, or registered model name with ``model=True``.
        permission: READ, USE, EDIT, MANAGE or NO_PERMISSIONS.
        model: ``name`` is a registered model, not an experiment.
    """
    permission = permission.upper()
    if permission not in PERMISSIONS:
        raise ConfigError(
            f"permission {permission!r} is invalid; use one of {', '.join(PERMISSIONS)}"
        )
    quoted = urllib.parse.quote(name)
    if model:
        kind, resource_type = "registered model", "registered_model"
        # Checked first: the grant itself would accept a name that does not exist.
        _auth_call(
            url,
            granter,
            granter_password,
            f"/api/2.0/mlflow/registered-models/get?name={quoted}",
            "GET",
            None,
            f"read registered model {name!r}",
        )
        resource_id = name
    else:
        kind, resource_type = "experiment", "experiment"
        found = _auth_call(
            url,
            granter,
            granter_password,
            f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={quoted}",
            "GET",
            None,
            f"read experiment {name!r}",
        )
        resource_id = found["experiment"]["experiment_id"]
    _auth_call(
        url,
        granter,
        granter_password,
        "/api/3.0/mlflow/users/permissions/grant",
        "POST",
        {
            "username": username,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "permission": permission,
        },
        f"grant {permission} on {kind} {name!r}",
    )


# --------------------------------------------------------------------------- kubernetes
_K8S_APP_DIR = "/opt/mltrack"
_K8S_AUTH_CONFIG = "/etc/mlflow-auth/basic_auth.ini"


def kubernetes_manifests(
    *,
    name: str = "mlflow",
    namespace: str = "mlflow",
    image: str = "ghcr.io/mlflow/mlflow:v3.17.0",
    artifacts: str = "s3://CHANGE-ME/mlflow-artifacts",
    replicas: int = 2,
    workers: int = 2,
    auth: bool = True,
    allowed_hosts: tuple[str, ...] = (),
) -> str:
    """Kubernetes manifests (ConfigMap + Deployment + Service) for the tracking server, as YAML.

    The pods run MLflow's own image and app, the way ``ml server`` runs them: a ConfigMap
    carries mltrack's two small standard-library files, the worker app
    (:mod:`mltrack.serverapp`: request threads capped to the connection pool, extra
    Host names) and the prepare step ``ml server`` runs before its workers (schema set-up
    and, with auth, the admin user), which runs here as an init container. The image
    needs ``psycopg2-binary``, ``boto3`` for S3 and ``Flask-WTF`` for auth on top of
    MLflow 3.17.

    No secret value is in the output: the database URI, the admin password, the Flask
    secret key and the auth config (whose ``database_uri`` holds a password) come from
    Secrets you create with ``kubectl create secret`` (see the Team setup guide).
    Replicas are stateless; they share the database and the Flask secret key.

    Args:
        name: base name of the objects (and the ``app`` label).
        namespace: namespace the objects go to.
        image: container image with MLflow 3.17 and the drivers above.
        artifacts: artifact store the server proxies.
        replicas: server pods.
        workers: uvicorn workers per pod.
        auth: run the ``basic-auth`` app.
        allowed_hosts: host names clients use besides the Service's own (an Ingress's,
            say); MLflow refuses other names with 403 "Invalid Host header".

    Returns:
        Multi-document YAML text, ready for ``kubectl apply -f -``.
    """
    import yaml

    _check_host_names(allowed_hosts)
    labels = {"app": name}
    dns = f"{name}.{namespace}.svc"  # the Service's names inside the cluster
    hosts = _host_patterns(
        [name, f"{name}.{namespace}", dns, f"{dns}.cluster.local", *allowed_hosts]
    )
    # Later entries may refer to earlier ones: $(VAR) is expanded by Kubernetes.
    env: list[dict[str, Any]] = [
        _secret_env("MLFLOW_BACKEND_STORE_URI", f"{name}-db", "uri"),
        *(
            {"name": key, "value": value}
            for key, value in _mlflow_server_vars(
                "$(MLFLOW_BACKEND_STORE_URI)", artifacts, serve_artifacts=True
            ).items()
        ),
        {"name": ALLOWED_HOSTS_ENV, "value": ",".join(hosts)},
    ]
    volumes: list[dict[str, Any]] = [{"name": "mltrack", "configMap": {"name": f"{name}-mltrack"}}]
    mounts: list[dict[str, Any]] = [
        {"name": "mltrack", "mountPath": _K8S_APP_DIR, "readOnly": True}
    ]
    if auth:
        env += [
            _secret_env("MLFLOW_AUTH_ADMIN_PASSWORD", f"{name}-auth", "admin-password"),
            _secret_env("MLFLOW_FLASK_SERVER_SECRET_KEY", f"{name}-auth", "flask-secret-key"),
            {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": _K8S_AUTH_CONFIG},
        ]
        volumes.append({"name": "auth-config", "secret": {"secretName": f"{name}-auth-config"}})
        mounts.append(
            {
                "name": "auth-config",
                "mountPath": str(Path(_K8S_AUTH_CONFIG).parent),
                "readOnly": True,
            }
        )
    common: dict[str, Any] = {
        "image": image,
        "env": env,
        # Object-store credentials (AWS_ACCESS_KEY_ID, ...) when the Secret exists.
        "envFrom": [{"secretRef": {"name": f"{name}-artifacts", "optional": True}}],
        "volumeMounts": mounts,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
        },
    }
    prepare_container = {
        "name": "prepare",
        **common,
        "command": ["python", f"{_K8S_APP_DIR}/prepare.py"],
    }
    server_env_list = list(env)
    if auth:  # the init container created the admin; the workers need not try again
        server_env_list += [{"name": k, "value": v} for k, v in _ADMIN_BOOTSTRAPPED.items()]
    container: dict[str, Any] = {
        "name": "mlflow",
        **common,
        "env": server_env_list,
        "command": uvicorn_command(
            "0.0.0.0", 5000, workers, auth=auth, python="python", app_dir=_K8S_APP_DIR
        ),
        "ports": [{"name": "http", "containerPort": 5000}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
        },
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "2Gi"},
        },
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-mltrack", "namespace": namespace, "labels": dict(labels)},
        "data": {
            "serverapp.py": Path(mltrack.serverapp.__file__).read_text(),
            "prepare.py": _PREPARE_CODE.lstrip(),
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "initContainers": [prepare_container],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "selector": dict(labels),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    return yaml.dump_all(
        [config_map, deployment, service],
        Dumper=_literal_dumper(),
        sort_keys=False,
        allow_unicode=True,
    )


def _literal_block(dumper: Any, value: str) -> Any:
    # The ConfigMap's Python files stay readable (and diffable) as YAML block scalars.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _literal_dumper() -> Any:
    import yaml

    class LiteralDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # the two containers share env lists: write them out, no &id001

    LiteralDumper.add_representer(str, _literal_block)
    return LiteralDumper


def _secret_env(var: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
