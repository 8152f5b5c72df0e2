# livedocs: timeout=300
"""`ml try`: send the model's input example (or your own JSON) and see the prediction.

With a model name, `ml try` loads the model in-process (no server); with a URL it calls a
running server. Both print the prediction and the latency.
"""

import json
import shlex
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), name="iris-try", input_example=X.head(2), quiet=True
)


runs: list[subprocess.CompletedProcess[str]] = []


def ml(*args: str) -> None:
    print("$ ml", shlex.join(args))
    proc = subprocess.run([sys.executable, "-m", "mltrack", *args], capture_output=True, text=True)
    print(proc.stdout.strip() or proc.stderr.strip())
    runs.append(proc)


ml("try", "iris-try")  # no champion yet: the latest version

Path("flower.json").write_text(json.dumps({"records": [X.iloc[120].to_dict()]}))
ml("try", "iris-try", "--data", "flower.json", "--repeat", "20")

Path("incomplete.json").write_text(json.dumps([{"sepal length (cm)": 5.1}]))
ml("try", "iris-try", "--data", "incomplete.json")

# --- checks ---
latest, flower, incomplete = runs
assert latest.returncode == 0 and '"predictions"' in latest.stdout
assert flower.returncode == 0 and '"predictions"' in flower.stdout
assert incomplete.returncode != 0 and "sepal length (cm)" in incomplete.stderr
