"""Run mltrack in Docker: a two-stage training image whose entry point is `ml`.

mltrack publishes no image of its own; it is a Python package, so it goes into your
project's image like any other dependency. The script reads `examples/docker/Dockerfile`,
checks the properties that matter, and prints it with the commands that use it.
"""
# livedocs: inputs=examples/docker/Dockerfile

from pathlib import Path

from dockerfile_parse import DockerfileParser

import mltrack

here = Path(mltrack.__file__).resolve().parent.parent
dockerfile = DockerfileParser(path=str(here / "examples" / "docker" / "Dockerfile"))

stages = [i["value"] for i in dockerfile.structure if i["instruction"] == "FROM"]
runs = [i["value"] for i in dockerfile.structure if i["instruction"] == "RUN"]
assert len(stages) == 2, "build stage + slim runtime stage"
assert any("uv sync --frozen" in cmd for cmd in runs), "dependencies come from uv.lock"
assert dockerfile.structure[-3]["instruction"] == "USER", "runs as a non-root user"
print("stages:", " -> ".join(stages))
print("entrypoint:", dockerfile.structure[-2]["value"], "| default command:", dockerfile.cmd)
print("tracking server:", dockerfile.envs["MLFLOW_TRACKING_URI"])
print()
print(dockerfile.content)
print("docker build -t my-training .")
print("docker run --rm -e MLFLOW_TRACKING_URI=http://mlflow.internal:5000 my-training")
print("docker run --rm my-training runs --limit 5")

# --- checks ---
assert "ml" in dockerfile.structure[-2]["value"], "the entry point is `ml`"
assert dockerfile.envs["MLFLOW_TRACKING_URI"].startswith("http"), dockerfile.envs
assert dockerfile.structure[-3]["value"].strip() not in ("root", "0")
