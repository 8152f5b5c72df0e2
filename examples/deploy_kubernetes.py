# livedocs: timeout=180
"""Ship to Kubernetes: Deployment + Service + HorizontalPodAutoscaler, or KServe.

The manifests use the Docker target's image (its build context is written alongside);
probes hit `/health` and `/ready`, and the bearer token comes from a Secret.
"""

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), name="iris-k8s", input_example=X.head(2), quiet=True
)

result = mltrack.ship(
    "iris-k8s", to="kubernetes", dry_run=True, output_dir="build/iris-k8s", max_replicas=6
)
print(result.summary())
print()
print((result.output_dir / "k8s" / "deployment.yaml").read_text())
print((result.output_dir / "k8s" / "hpa.yaml").read_text())

kserve = mltrack.ship(
    "iris-k8s", to="kubernetes", dry_run=True, output_dir="build/iris-kserve", kserve=True
)
print((kserve.output_dir / "k8s" / "inferenceservice.yaml").read_text())

# --- checks ---
import yaml  # noqa: E402

k8s = result.output_dir / "k8s"
assert {"deployment.yaml", "service.yaml", "hpa.yaml"} <= {p.name for p in k8s.iterdir()}
hpa = yaml.safe_load((k8s / "hpa.yaml").read_text())
assert hpa["kind"] == "HorizontalPodAutoscaler" and hpa["spec"]["maxReplicas"] == 6, hpa
deployment = (k8s / "deployment.yaml").read_text()
assert "/health" in deployment and "/ready" in deployment and "secretKeyRef" in deployment
assert (result.output_dir / "Dockerfile").is_file(), "the Docker build context sits alongside"
inference = yaml.safe_load((kserve.output_dir / "k8s" / "inferenceservice.yaml").read_text())
assert inference["kind"] == "InferenceService", inference
