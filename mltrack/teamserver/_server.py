"""Start, wait for and stop the team server: uvicorn forked (Linux) or under a keeper."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mltrack._process import free_port, kill_group, owned_tempdir, spawn_kept
from mltrack.errors import ConfigError, ServerStartError
from mltrack.localserver import ServerProcess
from mltrack.serverapp import (
    AUTH_APP,
    PLAIN_APP,
    THREADS_ENV,
    uvicorn_command,
)
from mltrack.teamserver._config import TeamServerConfig
from mltrack.teamserver._env import _ADMIN_BOOTSTRAPPED, server_env
from mltrack.teamserver._fork import fork_server, server_fork_ready
from mltrack.teamserver._prepare import _scrub, plan_workers, prepare
from mltrack.teamserver._uris import _ANY_INTERFACE, _port_in_use, _sqlite_path


@dataclass
class TeamServer:
    """A running team server, as :func:`team_server` yields it.

    Attributes:
        url: base URL clients use as ``MLFLOW_TRACKING_URI``.
        config: what it was started with.
        process: the server (leader of its own process group): a fork of this process
            running uvicorn, or a keeper running ``python -m uvicorn``.
        startup_s: seconds from launch to the first healthy answer (after prepare).
    """

    url: str
    config: TeamServerConfig
    process: ServerProcess
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


def _kill_group(proc: ServerProcess) -> None:
    kill_group(proc, grace_s=15)  # several uvicorn workers take longer to drain


def _launch(config: TeamServerConfig, env: dict[str, str]) -> ServerProcess:
    assert config.workers is not None, "plan_workers() decides them before the launch"
    if config.workers == 1 and server_fork_ready():
        # A fork: MLflow's server stack is imported once here, not in a new interpreter.
        # Several workers are spawned (see mltrack.teamserver._fork).
        app = AUTH_APP if config.auth else PLAIN_APP
        return fork_server(app, config.host, config.port, env, str(config.state_dir))
    # Under a keeper: the workers end with this process, even when it is SIGKILLed.
    return spawn_kept(
        uvicorn_command(config.host, config.port, config.workers, auth=config.auth),
        log=config.state_dir / "server.log",
        env=env,
        cwd=config.state_dir,
    )


def _local_url(config: TeamServerConfig) -> str:
    host = "127.0.0.1" if config.host in _ANY_INTERFACE else config.host
    return f"http://{host}:{config.port}"


def _wait_healthy(server: TeamServer, timeout: float = 120.0) -> float:
    """The throwaway server's health wait, with this server's log tail in its error."""
    from mltrack.localserver import wait_healthy

    try:
        return wait_healthy(server.url, timeout=timeout, proc=server.process)
    except ServerStartError as exc:
        raise ServerStartError(f"{exc}\n--- server log ---\n{server.log_tail()}") from None


def _require_admin_password_on_first_start(config: TeamServerConfig) -> None:
    # Known before any import when the users database is a sqlite file not created yet;
    # otherwise MLflow's bootstrap says it (one line, via prepare).
    users_db = _sqlite_path(config.resolved_auth_db) if config.auth else None
    first_start = users_db is not None and not users_db.exists()
    if first_start and not (config.admin_password or os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD")):
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
            config.port = free_port(config.host)
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
        limit = prepare(config, env, fork=server_fork_ready())
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
    """Run a team server for the duration of a ``with`` block; always stop it after.

    Validates ``config``, prepares the database (schema, admin user) and starts the
    server, then yields it once it answers ``/health``. On leaving the block, also on an
    error, the server is stopped (and a temporary ``state_dir`` it created is removed).

    Raises:
        ConfigError: invalid settings.
        ServerStartError: the port is taken, the database cannot be prepared, or the
            server did not become healthy (the message holds the log tail).
    """
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
