"""scikit-learn: autologging inside a tracked function, then save the best model.

Because the script imports scikit-learn, mltrack turns on MLflow's sklearn autologging
when the run starts: the estimator's parameters and training metrics are logged without
a line of tracking code, and a grid search logs each candidate as a child run.
"""

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
    print("saved", version, "with", grid.best_params_)
    return {"test_accuracy": grid.score(X_test, y_test)}


print(search())
run = mltrack.get_last_run()
autologged = sorted(k for k in run.metrics if k.startswith(("training_", "best_")))
print("autologged metrics:", autologged)
print("params (first 6):", dict(list(sorted(run.params.items()))[:6]))

# --- checks ---
import mlflow  # noqa: E402

assert run.name == "search" and run.params["cv"] == "3", run.params
assert autologged, "sklearn autologging logged training/best_* metrics"
assert run.metrics["test_accuracy"] > 0.9, run.metrics
children = mlflow.search_runs(
    filter_string=f"tags.mlflow.parentRunId = '{run.id}'", output_format="list"
)
assert len(children) == 3, f"one child run per grid candidate, found {len(children)}"
assert mlflow.MlflowClient().get_registered_model("wine-logreg").latest_versions
