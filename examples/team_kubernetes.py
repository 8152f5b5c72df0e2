"""Kubernetes manifests for the team tracking server (Deployment + Service).

The manifests reference Secrets for everything sensitive; create those first, e.g.::

    kubectl -n mlflow create secret generic mlflow-db \
        --from-literal=uri='postgresql://mlflow:PASSWORD@postgres:5432/mlflow'
    kubectl -n mlflow create secret generic mlflow-auth \
        --from-literal=admin-password='...' --from-literal=flask-secret-key="$(openssl rand -hex 32)"
    kubectl -n mlflow create secret generic mlflow-auth-config --from-file=basic_auth.ini

Runs standalone: ``uv run python examples/team_kubernetes.py > mlflow.yaml``.
"""

import yaml

from mltrack.teamserver import kubernetes_manifests

manifests = kubernetes_manifests(
    namespace="mlflow",
    artifacts="s3://acme-ml/mlflow-artifacts",
    replicas=2,
    workers=2,
    auth=True,
)
print(manifests)

# Sanity checks a reviewer would do: two objects, probes on /health, no secret inline.
deployment, service = yaml.safe_load_all(manifests)
container = deployment["spec"]["template"]["spec"]["containers"][0]
assert container["readinessProbe"]["httpGet"]["path"] == "/health"
assert all("value" not in e or "PASSWORD" not in e["name"] for e in container["env"])
assert service["spec"]["ports"][0]["targetPort"] == "http"
