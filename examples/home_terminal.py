"""A real `ml` session, replayed on the home page.

The script writes a small training script, then runs the same commands a person would
type: `ml train`, `ml runs`, `ml save`, `ml promote` and `ml models`. The commands run
in-process through mltrack's CLI app, so what you see is their real output.
"""
# livedocs: timeout=240

import os
import shlex
from pathlib import Path

from mltrack.cli import app

# MLflow prints a 'View run at' link at the end of every run; the replay leaves it out.
os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"

Path("train.py").write_text(
    """\
import logging
import warnings

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

warnings.filterwarnings("ignore", category=UserWarning)
logging.getLogger("mlflow").setLevel(logging.ERROR)
X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = LogisticRegression(C=0.5, max_iter=500).fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
mlflow.log_params({"C": 0.5})
mlflow.log_metric("accuracy", accuracy)
mlflow.sklearn.log_model(model, name="model", input_example=X_test[:2])
print(f"accuracy: {accuracy:.3f}")
"""
)


def ml(*args: str) -> None:
    """Print the command like a shell prompt, then run it."""
    print("$ ml " + shlex.join(args), flush=True)
    try:
        app(list(args), prog_name="ml")
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise
    print(flush=True)


ml("train", "train.py", "--name", "logreg", "--experiment", "iris-demo")
ml("runs", "--experiment", "iris-demo", "--limit", "3")
ml("save", "iris-session", "--experiment", "iris-demo")
ml("promote", "iris-session", "1", "--reason", "first model")
ml("models", "iris-session")

# --- checks ---
import mlflow  # noqa: E402

client = mlflow.MlflowClient()
experiment = client.get_experiment_by_name("iris-demo")
(run,) = client.search_runs(
    [experiment.experiment_id], "attributes.run_name = 'logreg'", max_results=1
)
assert run.data.params["C"] == "0.5" and run.data.metrics["accuracy"] > 0.9, run.data
champion = client.get_model_version_by_alias("iris-session", "champion")
assert str(champion.version) == "1" and champion.run_id == run.info.run_id
assert champion.tags["mltrack.promotion_reason"] == "first model"
