"""The team server's validated configuration (:class:`TeamServerConfig`)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from mltrack.errors import ConfigError
from mltrack.teamserver._uris import (
    _ANY_INTERFACE,
    _REMOTE_ARTIFACT_SCHEMES,
    _SQL_SCHEMES,
    _scheme,
)
from mltrack.uris import redact_uri, repr_without_passwords


@repr_without_passwords  # backend, auth_db: postgresql://user:password@host/db
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
        workers: uvicorn worker processes; None picks them: 2 on sqlite, else one per
            core (2 to 16), fewer when PostgreSQL has too few connections free. Each
            runs MLflow's Python request handling on one core; PostgreSQL takes their
            writes concurrently, so on PostgreSQL one worker per core writes fastest
            (sqlite serialises writes whatever the count).
        state_dir: directory for the generated auth config, secret key and log.
        admin_password: the admin's password for the first start with ``auth``; default:
            ``MLFLOW_AUTH_ADMIN_PASSWORD`` from the environment (given here, it reaches
            only the server's processes, not this process's environment).
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
    admin_password: str | None = field(default=None, repr=False)
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
