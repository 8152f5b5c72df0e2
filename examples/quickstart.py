# livedocs: timeout=180
"""Quick start: track a sweep, make the best model the champion, serve it and call it.

Run it with ``uv run python examples/quickstart.py``. With ``MLFLOW_TRACKING_URI`` set it
logs to that server; without it, to mltrack's local store under ``.mltrack/``.
"""

import httpx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import mltrack
from mltrack.deploy.local import start_local

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
versions = {}


@mltrack.track
def train(C: float = 1.0, max_iter: int = 200) -> dict[str, float]:
    model = LogisticRegression(C=C, max_iter=max_iter).fit(X_train, y_train)
    versions[C] = mltrack.save(model, "iris-quickstart", input_example=X_test[:2])  # (1)!
    return {"accuracy": model.score(X_test, y_test)}


# 1. Track: every call is an MLflow run; its model becomes a registered version.
scores = {C: train(C=C)["accuracy"] for C in (0.01, 0.1, 1.0)}
for C, accuracy in scores.items():
    print(f"C={C:<5} accuracy={accuracy:.3f}")

# 2. Promote the best version to champion.
best = max(scores, key=scores.__getitem__)
mltrack.promote("iris-quickstart", versions[best].version, reason="best accuracy")  # (2)!
print(f"champion: {versions[best]}")

# 3. Serve the champion and ask it about 3 flowers.
with start_local("iris-quickstart") as server:  # (3)!
    flowers = {"records": X_test[:3].to_dict("records")}
    answer = httpx.post(f"{server.url}/predict", json=flowers, headers=server.headers)
    print(f"served in {server.startup_s:.1f} s; predictions: {answer.json()['predictions']}")

# (1)! Inside a tracked run, `save` logs the model to that run and registers it as the next version of `iris-quickstart` (it prints the version's URI). The input example is stored with the model and gives the served API its input schema.
# (2)! Moves the `champion` alias and records who promoted which version, when and why; `ml promote iris-quickstart N` does the same.
# (3)! A model name means its champion. The server runs in a background process on a free port with a bearer token, like `ml ship iris-quickstart --local`, and stops when the block ends.

# --- checks ---
import mlflow  # noqa: E402

# The newest runs: run by hand twice against one store, the checks still hold.
runs = mlflow.search_runs(
    filter_string="attributes.run_name = 'train'", max_results=3, output_format="list"
)
assert len(runs) == 3, len(runs)
logged = {float(r.data.params["C"]): r.data.metrics["accuracy"] for r in runs}
assert logged == scores, (logged, scores)
champion = mlflow.MlflowClient().get_model_version_by_alias("iris-quickstart", "champion")
assert str(champion.version) == str(versions[best].version)  # int in sqlite, str over REST
assert champion.tags["mltrack.promotion_reason"] == "best accuracy"
assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3, answer.text
