"""Docker: the multi-stage image, pushing to a registry, and Kubernetes manifests.

`mltrack.ship(..., to="docker")` writes a build context whose Dockerfile installs the
pinned requirements in a builder stage and copies only the virtualenv, the model and
mltrack's server into a slim runtime stage. With `image=` and `push=True` the commands
tag and push to your registry; `to="kubernetes"` writes Deployment, Service and
autoscaler manifests for that image. `dry_run=True` runs no tool.
"""

import yaml
from dockerfile_parse import DockerfileParser
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), "iris-img", input_example=X.head(2), quiet=True
)
mltrack.promote("iris-img", saved.version)

image = "ghcr.io/acme/iris-img:v1"
docker = mltrack.ship(
    "iris-img", to="docker", dry_run=True, output_dir="ctx", image=image, push=True
)
parsed = DockerfileParser(path=str(docker.output_dir / "Dockerfile"))
stages = [i["value"] for i in parsed.structure if i["instruction"] == "FROM"]
print("stages:", " | ".join(stages))
print("runtime user:", [i["value"] for i in parsed.structure if i["instruction"] == "USER"])
healthcheck = [i["value"] for i in parsed.structure if i["instruction"] == "HEALTHCHECK"]
print("healthcheck:", *healthcheck)
print("commands:", *docker.commands, sep="\n  ")

k8s = mltrack.ship(
    "iris-img",
    to="kubernetes",
    dry_run=True,
    output_dir="k8s-bundle",
    image=image,
    min_replicas=2,
    max_replicas=6,
    memory_mb=1024,
)
print("\nkubernetes:", ", ".join(k8s.files))
for path in sorted((k8s.output_dir / "k8s").glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        spec = doc.get("spec", {})
        detail = ""
        if doc["kind"] == "Deployment":
            container = spec["template"]["spec"]["containers"][0]
            detail = f"image={container['image']} resources={container.get('resources')}"
        elif doc["kind"] == "HorizontalPodAutoscaler":
            detail = f"replicas {spec['minReplicas']}..{spec['maxReplicas']}"
        print(f"  {path.name}: {doc['kind']} {doc['metadata']['name']} {detail}")
# In order: build and push the image, create the API token's Secret, apply the manifests.
print("then:", *k8s.commands, sep="\n  ")

# --- checks ---
assert len(stages) == 2, stages
assert len(healthcheck) == 1 and "/health" in healthcheck[0], healthcheck
assert any("create secret generic iris-img-api-token" in c for c in k8s.commands), k8s.commands
assert any(f"docker push {image}" in c for c in docker.commands), docker.commands
manifests = {
    doc["kind"]: doc
    for path in (k8s.output_dir / "k8s").glob("*.yaml")
    for doc in yaml.safe_load_all(path.read_text())
    if doc
}
assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= set(manifests), set(manifests)
hpa = manifests["HorizontalPodAutoscaler"]["spec"]
assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6), hpa
container = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
assert container["image"] == image and "1024" in str(container["resources"]), container
