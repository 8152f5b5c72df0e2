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
* ``ml server --check URL``: health, authentication and a write/read round trip against
  any running server, one :class:`CheckResult` per step;
* :func:`migrate`: a timestamped backup of a sqlite database, then ``mlflow db upgrade``;
* credentials never leave the process environment: every URI that is shown has its
  password replaced by ``***`` first.

The package's modules, one concern each: ``_config`` (validation), ``_env`` (what
MLflow's server reads), ``_prepare`` (schema, admin, worker plan), ``_server``
(start/stop), ``_fork`` (its processes as forks, on Linux), ``_check``, ``_migrate``,
``_users``, ``_kubernetes``; the programs run in the database's environment are
``_prepare_db`` and ``_migrate_db`` (forked, or fresh interpreters).
"""

from __future__ import annotations

from mltrack.serverapp import AUTH_APP

# Helpers the CLI and tests import from here; not public API, so not in __all__.
from mltrack.teamserver._check import CheckResult, auth_status, check_server  # noqa: F401
from mltrack.teamserver._config import TeamServerConfig
from mltrack.teamserver._env import server_env  # noqa: F401
from mltrack.teamserver._kubernetes import kubernetes_dockerfile, kubernetes_manifests
from mltrack.teamserver._migrate import (  # noqa: F401
    MigrationResult,
    backup_sqlite,
    migrate,
    schema_revision,
)
from mltrack.teamserver._prepare import ConnectionLimit, plan_workers, prepare  # noqa: F401
from mltrack.teamserver._server import (  # noqa: F401
    TeamServer,
    client_instructions,
    start_team_server,
    team_server,
)
from mltrack.teamserver._users import PERMISSIONS, create_user, grant_permission
from mltrack.uris import redact_uri, strip_userinfo  # noqa: F401

__all__ = [
    "AUTH_APP",
    "CheckResult",
    "ConnectionLimit",
    "MigrationResult",
    "PERMISSIONS",
    "TeamServer",
    "TeamServerConfig",
    "create_user",
    "grant_permission",
    "kubernetes_dockerfile",
    "kubernetes_manifests",
    "migrate",
    "team_server",
]
