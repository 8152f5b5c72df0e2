# livedocs: timeout=180
"""Ship to Docker: a self-contained build context with a multi-stage Dockerfile.

`mltrack.ship(..., to="docker")` writes the model, mltrack's server and pinned
requirements next to a Dockerfile (non-root user, HEALTHCHECK). Without `dry_run` it also
builds the image when a Docker daemon answers; otherwise it prints the exact commands.
"""

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y),
    name="iris-docker",
    input_example=X.head(2),
    quiet=True,
)
mltrack.promote("iris-docker", saved.version, to="champion")

result = mltrack.ship("iris-docker", to="docker", dry_run=True, output_dir="build/iris-docker")
print(result.summary())
print()
print((result.output_dir / "Dockerfile").read_text())
requirements = (result.output_dir / "requirements.txt").read_text().splitlines()
print(f"requirements.txt: {len(requirements)} pinned packages, e.g.", *requirements[:3])

# --- checks ---
dockerfile = (result.output_dir / "Dockerfile").read_text()
assert dockerfile.count("FROM ") >= 2, "a multi-stage build"
assert "USER " in dockerfile and "HEALTHCHECK" in dockerfile, dockerfile
assert result.deployed is False and result.commands, "a dry run prints the commands"
assert all("==" in line for line in requirements if line and not line.startswith("#"))
assert result.model.version == str(saved.version) or str(result.model).endswith(
    ("@champion", str(saved.version))
), result.model
