"""scikit-learn: autologging inside a tracked function, then save the best model.

Because the script imports scikit-learn, mltrack turns on MLflow's sklearn autologging
when the run starts: the estimator's parameters and training metrics are logged without
a line of tracking code, and a grid search logs each candidate as a child run. The
script prints, as Markdown, what autologging recorded on the run, read back from the
tracking server.
"""

import mlflow
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mltrack

X, y = load_wine(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)


@mltrack.track
def search(cv: int = 3) -> dict[str, float]:
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        {"logisticregression__C": [0.01, 0.1, 1.0]},
        cv=cv,
    ).fit(X_train, y_train)
    version = mltrack.save(
        grid.best_estimator_, "wine-logreg", input_example=X_test[:3], quiet=True
    )
    print(f"Saved `{version}` with `{grid.best_params_}`.\n")
    return {"test_accuracy": grid.score(X_test, y_test)}


def autolog_table(run_id: str) -> str:
    """The run's params, metrics and artifacts, read back from the server, as Markdown."""
    client = mlflow.MlflowClient()
    data = client.get_run(run_id).data
    params = {k: " ".join(v.split()) for k, v in data.params.items()}  # one line each
    unset = sorted(k for k, v in params.items() if v == "None")
    rows = [f"| param | `{k}` | `{v}` |" for k, v in sorted(params.items()) if v != "None"]
    if unset:
        rows.append(f"| param | {len(unset)} more, all `None` | {', '.join(unset)} |")
    for key, value in sorted(data.metrics.items()):
        steps = len(client.get_metric_history(run_id, key))
        last_of = f" (last of {steps})" if steps > 1 else ""
        rows.append(f"| metric | `{key}` | {value:.3f}{last_of} |")
    rows += [f"| artifact | `{a.path}` | |" for a in client.list_artifacts(run_id)]
    return "\n".join(["| Recorded | Name | Value |", "| --- | --- | --- |", *rows])


search()
run = mltrack.get_last_run()
autologged = sorted(k for k in run.metrics if k.startswith(("training_", "best_")))
print(autolog_table(run.id))

# --- checks ---
assert run.name == "search" and run.params["cv"] == "3", run.params
assert autologged, "sklearn autologging logged training/best_* metrics"
assert run.metrics["test_accuracy"] > 0.9, run.metrics
children = mlflow.search_runs(
    filter_string=f"tags.mlflow.parentRunId = '{run.id}'", output_format="list"
)
assert len(children) == 3, f"one child run per grid candidate, found {len(children)}"
assert mlflow.MlflowClient().get_registered_model("wine-logreg").latest_versions
artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.id)}
assert {"cv_results.csv", "training_confusion_matrix.png"} <= artifacts, artifacts
assert run.params["best_logisticregression__C"] == "0.1", run.params
