"""The registry from the command line: `ml save`, `ml models`, `ml promote`.

A run logs a model with plain MLflow; `ml save NAME --run RUN_ID` registers it, `ml models
NAME` lists the versions with their metrics and aliases, and `ml promote` moves an alias.
(The script runs the commands itself, so they see the run it creates.)
"""
# livedocs: timeout=180

import contextlib
import io
import shlex

import mlflow
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

import mltrack
from mltrack.cli import app

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
    """Run `ml ARGS` (the same app the `ml` command runs) and return what it printed."""
    print("$ ml", shlex.join(args))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        app(list(args))  # a user error would exit with code 2 and stop the script
    print(buffer.getvalue())
    return buffer.getvalue()


uri = ml("save", "iris-tree", "--run", run.id).strip()
version = uri.rsplit("/", 1)[1]
ml("promote", "iris-tree", version, "--to", "champion", "--reason", "first tree")
ml("models", "iris-tree")

# --- checks ---
client = mlflow.MlflowClient()
champion = client.get_model_version_by_alias("iris-tree", "champion")
assert str(champion.version) == str(version) and champion.run_id == run.id, champion
assert champion.tags["mltrack.promotion_reason"] == "first tree"
assert uri == f"models:/iris-tree/{version}", uri
