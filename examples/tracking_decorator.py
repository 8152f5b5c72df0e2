"""Track a training function with ``@mltrack.track``.

Arguments become params (the dataclass is flattened to ``config.n_estimators`` …), the
returned dict becomes metrics, and a tracked function called inside another one becomes
a child run.
"""

from dataclasses import dataclass

from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import mltrack

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)


@dataclass
class ForestConfig:
    n_estimators: int = 30
    max_depth: int | None = 4


@mltrack.track
def fit_forest(config: ForestConfig, seed: int) -> dict[str, float]:
    model = RandomForestClassifier(
        n_estimators=config.n_estimators, max_depth=config.max_depth, random_state=seed
    ).fit(X_train, y_train)
    return {"test_accuracy": model.score(X_test, y_test)}


@mltrack.track(name="forest-seeds")
def sweep(config: ForestConfig, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, float]:
    scores = [fit_forest(config, seed)["test_accuracy"] for seed in seeds]
    return {"mean_accuracy": sum(scores) / len(scores), "worst_accuracy": min(scores)}


print(sweep(ForestConfig()))

run = mltrack.get_last_run()
print("run:", run.name, run.status)
print("params:", run.params)
print("metrics:", {k: round(v, 4) for k, v in run.metrics.items() if "accuracy" in k})

# --- checks ---
import mlflow  # noqa: E402

assert run.name == "forest-seeds" and run.status == "FINISHED"
assert run.params["config.n_estimators"] == "30" and run.params["config.max_depth"] == "4"
children = mlflow.search_runs(
    filter_string=f"tags.mlflow.parentRunId = '{run.id}'", output_format="list"
)
assert len(children) == 3 and {c.data.params["seed"] for c in children} == {"0", "1", "2"}
scores = [c.data.metrics["test_accuracy"] for c in children]
assert abs(run.metrics["mean_accuracy"] - sum(scores) / 3) < 1e-12
assert run.metrics["worst_accuracy"] == min(scores)
