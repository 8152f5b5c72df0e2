"""The registry from the command line: `ml save`, `ml models`, `ml promote`.

A run logs a model with plain MLflow; `ml save NAME --run RUN_ID` registers it, `ml models
NAME` lists the versions with their metrics and aliases, and `ml promote` moves an alias.
(The script calls the CLI itself so the commands see the run it creates.)
"""
# livedocs: timeout=180

import subprocess
import sys

import mlflow
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
with mltrack.run("iris-tree", params={"max_depth": 3}, autolog=False) as run:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    run.log_metrics({"train_accuracy": model.score(X, y)})
    mlflow.sklearn.log_model(
        model,
        name="model",
        input_example=X[:3],
        pip_requirements=["scikit-learn"],
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )


def ml(*args: str) -> str:
    """Run `ml ARGS` and return what it printed."""
    print(f"$ ml {' '.join(args)}")
    out = subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "COLUMNS": "100"},
    ).stdout
    print(out)
    return out


uri = ml("save", "iris-tree", "--run", run.id).strip()
version = uri.rsplit("/", 1)[1]
ml("promote", "iris-tree", version, "--to", "champion", "--reason", "first tree")
ml("models", "iris-tree")
