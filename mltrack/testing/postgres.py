"""A throwaway PostgreSQL cluster on the loopback interface, for tests, benchmarks and docs.

Uses the Debian ``postgresql`` package's ``initdb`` and ``pg_ctl`` (found on ``PATH`` or
under ``/usr/lib/postgresql/*/bin``). PostgreSQL refuses to run as root, so when this
process is root the cluster is created and run as the ``postgres`` system user (created
when missing) through ``runuser``. The data directory, the unix socket and the log live in
one temporary directory that is always removed, and the server is always stopped, also
when start-up fails half-way, and also when the process that started it dies without
stopping it (even by SIGKILL): a sentinel process then stops the server and removes the
directory.

Examples:
    >>> with temporary_postgres() as pg:
    ...     print(pg.uri)
    postgresql://mltrack@127.0.0.1:54321/mlflow
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mltrack._process import Sentinel, start_sentinel
from mltrack.errors import ServerStartError

__all__ = [
    "PostgresCluster",
    "find_pg_bin",
    "load_mlflow_schema",
    "start_postgres",
    "temporary_postgres",
]

_RUN_AS = "postgres"
#: Set on every process of a cluster (the server and the tools run for it), so that the
#: cluster's sentinel finds them when the owner died without stopping them.
CLUSTER_ENV = "MLTRACK_PG_CLUSTER"


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``.

    Raises:
        ServerStartError: PostgreSQL is not installed.
    """
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent  # /usr/local/bin links into the real bin dir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise ServerStartError(
        "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin); "
        "install it with `apt-get install -y postgresql`"
    )


def _free_port() -> int:
    from mltrack._process import free_port

    return free_port()


def _ensure_system_user() -> None:
    try:
        pwd.getpwnam(_RUN_AS)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/bin/false", _RUN_AS],
            check=True,
            capture_output=True,
        )


@dataclass
class PostgresCluster:
    """A running throwaway PostgreSQL server.

    Attributes:
        root: temporary directory (data, socket, log); removed by :meth:`stop`.
        port: TCP port on 127.0.0.1.
        user: database superuser (no password; trust authentication on loopback only).
        database: the database created for MLflow.
    """

    root: Path
    port: int
    bin_dir: Path
    user: str = "mltrack"
    database: str = "mlflow"
    _stopped: bool = field(default=False, repr=False)
    _sentinel: Sentinel | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def uri(self) -> str:
        """SQLAlchemy URI of the MLflow database (what ``ml server --backend`` takes)."""
        return self.uri_for(self.database)

    def uri_for(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            return ["runuser", "-u", _RUN_AS, "--", *cmd]
        return cmd

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool (``psql``, ``createdb``…) as the cluster's owner."""
        return subprocess.run(
            self._cmd(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, CLUSTER_ENV: self.root.name},  # `pg_ctl start` passes it on
        )

    def create_database(self, name: str) -> str:
        """Create another database in the cluster; returns its URI."""
        done = self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        if done.returncode != 0:
            raise ServerStartError(f"createdb {name} failed: {done.stderr.strip()[:300]}")
        return self.uri_for(name)

    def _conn_args(self, database: str) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database]

    def dump(self, target: Path, database: str | None = None) -> None:
        """Write a plain-SQL dump of a database (schema and rows) to ``target``."""
        done = self.run("pg_dump", *self._conn_args(database or self.database), timeout=120)
        if done.returncode != 0:
            raise ServerStartError(f"pg_dump failed: {done.stderr.strip()[:300]}")
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(done.stdout)
        os.replace(partial, target)  # atomic: a concurrent reader never sees half a dump

    def load(self, source: Path, database: str | None = None) -> None:
        """Execute a SQL file (e.g. a dump) in a database, stopping at the first error."""
        sql = source.read_text()
        cmd = self._cmd(
            "psql", "-q", "-v", "ON_ERROR_STOP=1", *self._conn_args(database or self.database)
        )
        done = subprocess.run(
            cmd, input=sql, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise ServerStartError(f"loading {source} failed: {done.stderr.strip()[:300]}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove the directory."""
        if self._stopped:
            return
        self._stopped = True
        if (self.data_dir / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        _kill_leftover(self.data_dir)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._sentinel is not None:
            self._sentinel.release()

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kill_leftover(data_dir: Path) -> None:
    # pg_ctl normally stops it; this is the belt for a wedged postmaster.
    pid_file = data_dir / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, ProcessLookupError):
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 9)


def start_postgres(timeout: float = 60.0, durable: bool = False) -> PostgresCluster:
    """Create and start a throwaway cluster with an empty ``mlflow`` database.

    Args:
        timeout: seconds to wait for the server to accept connections.
        durable: keep PostgreSQL's default fsync/commit settings (for benchmarks that
            compare with sqlite fairly); by default they are off, a throwaway needs none.

    Raises:
        ServerStartError: PostgreSQL is missing or did not start; the message says why.
    """
    bin_dir = find_pg_bin()
    root = Path(tempfile.mkdtemp(prefix="mltrack-pg-", dir=_temp_base()))
    cluster = PostgresCluster(root=root, port=_free_port(), bin_dir=bin_dir)
    try:
        # pg_ctl detaches the server from us: only a watcher can end it when we die.
        cluster._sentinel = start_sentinel(CLUSTER_ENV, root.name, [root])
        if os.geteuid() == 0:
            _ensure_system_user()
            shutil.chown(root, user=_RUN_AS)
        root.chmod(0o700)
        _initdb(cluster)
        _start(cluster, timeout, durable)
        cluster.create_database(cluster.database)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _temp_base() -> str | None:
    """Where the cluster's folder goes: the temp dir, unless the server cannot reach it.

    As root the server runs as another user, who must be able to enter every folder
    above its own; a private ``$TMPDIR`` (a docs build gives each example one) is not
    such a place, so the system's ``/tmp`` is used instead.
    """
    base = Path(tempfile.gettempdir()).resolve()
    if os.geteuid() != 0 or all(p.stat().st_mode & 0o001 for p in (base, *base.parents)):
        return None
    return "/tmp"


def _initdb(cluster: PostgresCluster) -> None:
    done = cluster.run(
        "initdb",
        "-D",
        str(cluster.data_dir),
        "-U",
        cluster.user,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",  # a throwaway cluster needs no durability at creation
        timeout=120,
    )
    if done.returncode != 0:
        raise ServerStartError(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")


def _start(cluster: PostgresCluster, timeout: float, durable: bool) -> None:
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
        f"-c unix_socket_directories={cluster.root} -c max_connections=200"
    )
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    started = time.monotonic()
    done = cluster.run(
        "pg_ctl",
        "-D",
        str(cluster.data_dir),
        "-l",
        str(cluster.log_path),
        "-o",
        options,
        "-w",
        "-t",
        str(int(timeout)),
        "start",
        timeout=timeout + 10,
    )
    if done.returncode != 0:
        tail = ""
        with contextlib.suppress(OSError):
            tail = cluster.log_path.read_text(errors="replace")[-800:]
        raise ServerStartError(
            f"pg_ctl start failed after {time.monotonic() - started:.0f} s: "
            f"{(done.stderr or done.stdout).strip()[-300:]}\n{tail}"
        )


@contextlib.contextmanager
def temporary_postgres(durable: bool = False) -> Iterator[PostgresCluster]:
    """Context manager form of :func:`start_postgres`; always stops and removes it."""
    cluster = start_postgres(durable=durable)
    try:
        yield cluster
    finally:
        cluster.stop()


def _schema_cache() -> Path:
    from importlib.metadata import version

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mltrack" / f"mlflow-{version('mlflow')}-postgres-schema.sql"


def load_mlflow_schema(cluster: PostgresCluster, database: str | None = None) -> None:
    """Give ``database`` MLflow's tracking, registry and auth schema, without any user.

    Running every MLflow migration on an empty PostgreSQL database takes tens of seconds;
    the migrated schema is built once per MLflow version (by MLflow's own migrations, via
    :func:`mltrack.teamserver.prepare`), dumped to the user cache, and loaded from there.
    """
    cache = _schema_cache()
    if not cache.exists():
        _build_schema_dump(cluster, cache)
    cluster.load(cache, database)


def _build_schema_dump(cluster: PostgresCluster, cache: Path) -> None:
    from mltrack.teamserver import TeamServerConfig, prepare, server_env

    name = f"schema_{os.getpid()}"
    uri = cluster.create_database(name)
    with tempfile.TemporaryDirectory(prefix="mltrack-schema-") as tmp:
        config = TeamServerConfig(backend=uri, auth=True, state_dir=Path(tmp), artifacts=tmp)
        config.validate()
        env = server_env(config)
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = uuid.uuid4().hex  # removed again below
        prepare(config, env)
    # The bootstrap admin is per deployment, not part of the schema.
    done = cluster.run("psql", "-q", "-c", "DELETE FROM users", *cluster._conn_args(name))
    if done.returncode != 0:
        raise ServerStartError(f"cleaning the schema dump failed: {done.stderr.strip()[:300]}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cluster.dump(cache, name)
