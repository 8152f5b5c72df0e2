"""The team-server API: run a shared tracking server, add users, upgrade, deploy to k8s.

`team_server` runs MLflow's server (here with basic auth on sqlite) and stops it at the
end of the block; `create_user` and `grant_permission` are what `ml server user-add` and
`ml server grant` call; `migrate` upgrades a database to this MLflow's schema (a backup
first, for sqlite); `kubernetes_dockerfile` and `kubernetes_manifests` write the image's
Dockerfile and the YAML to run the server on k8s.
"""
# livedocs: timeout=300

import os
import secrets
import tempfile
from pathlib import Path

from mlflow import MlflowClient

from mltrack.teamserver import (
    TeamServerConfig,
    create_user,
    grant_permission,
    kubernetes_dockerfile,
    kubernetes_manifests,
    migrate,
    team_server,
)

os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin = secrets.token_urlsafe(16)  # from a vault
alice = secrets.token_urlsafe(12)

with tempfile.TemporaryDirectory(prefix="api-team-") as root:
    backend = f"sqlite:///{root}/mlflow.db"
    config = TeamServerConfig(
        backend=backend,
        artifacts=f"{root}/artifacts",
        auth=True,
        port=0,
        workers=1,
        state_dir=Path(root) / "state",
    )
    with team_server(config) as server:
        os.environ |= {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": admin}
        experiment_id = MlflowClient(server.url).create_experiment("churn-model")
        create_user(server.url, "alice", alice, admin_user="admin", admin_password=admin)
        grant_permission(server.url, "admin", admin, "alice", "churn-model", "EDIT")
        print("alice added, EDIT on churn-model")
        os.environ |= {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": alice}
        alice_run = MlflowClient(server.url).create_run(experiment_id)  # a 403 would raise
        print("alice logs a run:", alice_run.info.experiment_id == experiment_id)
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(name)

    upgraded = migrate(backend)  # already current: a no-op, after a backup
    print("schema:", upgraded.revision_before, "->", upgraded.revision_after)
    print("backup written:", upgraded.backup is not None and upgraded.backup.is_file())

image = "registry.example.com/mlflow-team:3.17.0"  # built from kubernetes_dockerfile()
print("image:", kubernetes_dockerfile().splitlines()[0], "+ drivers ->", image)
manifests = kubernetes_manifests(name="tracking", namespace="ml", replicas=1, image=image)
print("kubernetes:", [line for line in manifests.splitlines() if line.startswith("kind:")])

# --- checks ---
assert alice_run.info.experiment_id == experiment_id
assert upgraded.revision_before == upgraded.revision_after, upgraded
assert "kind: Deployment" in manifests and "namespace: ml" in manifests and admin not in manifests
assert f"image: {image}" in manifests
