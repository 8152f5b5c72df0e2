# livedocs: timeout=300
"""`ml ship NAME --to TARGET`: the same from the command line.

`--dry-run` writes the artifacts without running docker, modal, sam or kubectl.
"""

import shlex
import subprocess
import sys

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), name="iris-cli", input_example=X.head(2), quiet=True
)


def ml(*args: str) -> None:
    print("$ ml", shlex.join(args))
    proc = subprocess.run([sys.executable, "-m", "mltrack", *args], capture_output=True, text=True)
    print((proc.stdout + proc.stderr).strip(), end="\n\n")


ml("ship", "iris-cli", "--to", "docker", "--dry-run", "--output", "build/docker")
ml("ship", "iris-cli", "--to", "kubernetes", "--kserve", "--dry-run", "--output", "build/kserve")
ml("ship", "iris-cli", "--to", "heroku")
ml("ship", "no-such-model", "--local")

# --- checks ---
from pathlib import Path  # noqa: E402

assert Path("build/docker/Dockerfile").is_file(), "the docker dry run wrote a build context"
kserve = Path("build/kserve/k8s/inferenceservice.yaml").read_text()
assert "InferenceService" in kserve, kserve
for args in (["ship", "iris-cli", "--to", "heroku"], ["ship", "no-such-model", "--local"]):
    proc = subprocess.run([sys.executable, "-m", "mltrack", *args], capture_output=True, text=True)
    assert proc.returncode != 0, f"ml {' '.join(args)} should fail"
    assert "Traceback" not in proc.stderr, proc.stderr  # one clear line, not a traceback
