"""Kubernetes manifests for the team tracking server (ConfigMap + Deployment + Service).

The manifests reference Secrets for everything sensitive; create those first, e.g.::

    kubectl -n mlflow create secret generic mlflow-db \
        --from-literal=uri='postgresql+psycopg2://mlflow:PASSWORD@postgres:5432/mlflow'
    kubectl -n mlflow create secret generic mlflow-auth \
        --from-literal=admin-password='...' --from-literal=flask-secret-key="$(openssl rand -hex 32)"
    kubectl -n mlflow create secret generic mlflow-auth-config --from-file=basic_auth.ini

The pods run MLflow's image with the PostgreSQL driver, the S3 client and the auth extra
added (MLflow's own has none of them): the script writes its ``Dockerfile`` too. Build
and push it first, under the name passed as ``image``::

    docker build -t registry.acme.internal/mlflow-team:3.17.0 .
    docker push registry.acme.internal/mlflow-team:3.17.0

Runs standalone: ``uv run python examples/team_kubernetes.py`` writes ``Dockerfile`` and
``mlflow.yaml`` for ``kubectl apply -f mlflow.yaml``.
"""

from pathlib import Path

import yaml

from mltrack.teamserver import kubernetes_dockerfile, kubernetes_manifests

IMAGE = "registry.acme.internal/mlflow-team:3.17.0"
Path("Dockerfile").write_text(kubernetes_dockerfile())
print("# Dockerfile of", IMAGE)
print(Path("Dockerfile").read_text())

manifests = kubernetes_manifests(
    image=IMAGE,
    namespace="mlflow",
    artifacts="s3://acme-ml/mlflow-artifacts",
    replicas=2,
    workers=2,
    auth=True,
    allowed_hosts=("mlflow.acme.internal",),  # the Ingress's name, besides the Service's
)
Path("mlflow.yaml").write_text(manifests)

config_map, deployment, service = yaml.safe_load_all(manifests)
# The ConfigMap carries two of mltrack's files (in full in mlflow.yaml): named here.
files = ", ".join(config_map["data"])
print(f"# ConfigMap {config_map['metadata']['name']}: {files}")
print(yaml.safe_dump_all([deployment, service], sort_keys=False))

# Sanity checks a reviewer would do: probes on /health, no secret inline.
container = deployment["spec"]["template"]["spec"]["containers"][0]
assert container["readinessProbe"]["httpGet"]["path"] == "/health"
assert all("value" not in e or "PASSWORD" not in e["name"] for e in container["env"])
assert service["spec"]["ports"][0]["targetPort"] == "http"
print("wrote mlflow.yaml:", ", ".join(doc["kind"] for doc in (config_map, deployment, service)))

# --- checks ---
written = list(yaml.safe_load_all(Path("mlflow.yaml").read_text()))
assert [doc["kind"] for doc in written] == ["ConfigMap", "Deployment", "Service"]
assert deployment["spec"]["replicas"] == 2 and deployment["metadata"]["namespace"] == "mlflow"
assert "mlflow.acme.internal" in manifests, "the Ingress host is allowed"
secret_refs = [e for e in container["env"] if "valueFrom" in e]
assert {e["valueFrom"]["secretKeyRef"]["name"] for e in secret_refs} >= {"mlflow-db", "mlflow-auth"}
assert "s3://acme-ml/mlflow-artifacts" in manifests
assert container["image"] == IMAGE
dockerfile = Path("Dockerfile").read_text()
assert all(p in dockerfile for p in ("psycopg2-binary", "boto3", "Flask-WTF")), dockerfile
