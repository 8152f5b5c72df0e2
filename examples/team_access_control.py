"""Access control: users, per-experiment permissions, and the errors mltrack raises.

Starts a throwaway team server with MLflow's basic-auth app (sqlite, so it runs anywhere),
where users get nothing on experiments they were not granted (``NO_PERMISSIONS``).
Alice creates an experiment (she becomes its manager), Bob is refused until she grants
him READ. Runs standalone: ``uv run python examples/team_access_control.py``.
"""
# livedocs: timeout=300

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import mltrack
from mltrack.errors import AccessDeniedError
from mltrack.logging import flush
from mltrack.teamserver import TeamServerConfig, create_user, grant_permission, team_server

os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin_pw = secrets.token_urlsafe(16)
passwords = {"alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12)}
root = Path(tempfile.mkdtemp(prefix="team-acl-"))
config = TeamServerConfig(
    backend=f"sqlite:///{root}/mlflow.db",
    artifacts=str(root / "artifacts"),
    auth=True,
    default_permission="NO_PERMISSIONS",
    port=0,
    workers=1,
    state_dir=root / "state",
)


def sign_in(user: str) -> None:
    """What each person puts in their shell (or CI secrets)."""
    os.environ["MLFLOW_TRACKING_USERNAME"] = user
    os.environ["MLFLOW_TRACKING_PASSWORD"] = passwords[user]
    import mltrack.logging

    flush()
    mltrack.logging._loggers.clear()  # one process plays several people here


refused = []  # what bob was refused, in order
try:
    with team_server(config) as server:  # stopped at the end of the block, also on error
        os.environ["MLFLOW_TRACKING_URI"] = server.url
        for user, password in passwords.items():
            create_user(server.url, user, password, "admin", admin_pw)
        print(f"server {server.url}: users alice and bob created by the admin")

        sign_in("alice")
        with mltrack.run("baseline", experiment="alice-churn", log_git=False) as run:
            mltrack.log_metric("auc", 0.87)
        print(f"alice logged run {run.id[:8]} in 'alice-churn'")

        sign_in("bob")
        try:
            mltrack.get_run(run.id)
        except AccessDeniedError as err:
            refused.append("read")
            print(f"bob reads it  -> {type(err).__name__}: {err}")
        try:
            with mltrack.run("sneaky", experiment="alice-churn", log_git=False):
                pass
        except AccessDeniedError as err:
            refused.append("write")
            print(f"bob writes it -> {type(err).__name__}: {err}")

        grant_permission(server.url, "alice", passwords["alice"], "bob", "alice-churn", "READ")
        print("alice grants bob READ on 'alice-churn'")
        seen_by_bob = mltrack.get_run(run.id)
        print(f"bob reads it  -> auc = {seen_by_bob.metrics['auc']}")
finally:
    shutil.rmtree(root, ignore_errors=True)

# --- checks ---
assert refused == ["read", "write"], f"bob was refused {refused}, expected read and write"
assert seen_by_bob.metrics == {"auc": 0.87} and seen_by_bob.name == "baseline", seen_by_bob
assert not root.exists(), "the server's files are removed"
