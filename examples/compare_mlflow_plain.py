"""Before: train, log and register a model with plain MLflow calls.

This is the code mltrack replaces (see ``compare_mltrack.py`` for the same job). Every
param, metric, tag and registry step is spelled out by hand.
"""

import getpass
import platform
import subprocess

import mlflow
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def train(C: float = 1.0, max_iter: int = 200) -> float:
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params({"C": C, "max_iter": max_iter})
        mlflow.set_tags(
            {
                "git_commit": git_commit(),
                "user": getpass.getuser(),
                "python": platform.python_version(),
            }
        )
        model = LogisticRegression(C=C, max_iter=max_iter).fit(X_train, y_train)
        accuracy = model.score(X_test, y_test)
        mlflow.log_metric("accuracy", accuracy)
        signature = infer_signature(X_test, model.predict(X_test))
        info = mlflow.sklearn.log_model(
            model, name="model", signature=signature, input_example=X_test[:3]
        )
    version = mlflow.register_model(info.model_uri, "iris-plain")
    mlflow.MlflowClient().set_registered_model_alias("iris-plain", "champion", version.version)
    print(f"run {run.info.run_id[:8]}: accuracy={accuracy:.3f}")
    print(f"registered models:/iris-plain/{version.version} as @champion")
    return accuracy


train(C=0.5)

# --- checks ---
client = mlflow.MlflowClient()
champion = client.get_model_version_by_alias("iris-plain", "champion")
run = client.get_run(champion.run_id)
assert run.info.run_name == "train" and run.data.params == {"C": "0.5", "max_iter": "200"}
assert run.data.metrics["accuracy"] > 0.9, run.data.metrics
assert {"git_commit", "user", "python"} <= set(run.data.tags), run.data.tags
