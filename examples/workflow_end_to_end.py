"""Training -> batch inference -> online inference, with one model artifact throughout.

The workflow of a typical ML project, on scikit-learn's diabetes data (shipped with the
library, no download). The registry is the contract:
training registers a version and moves the `champion` alias; batch and online inference
both load `models:/diabetes-gbr@champion`, so they can never disagree about the model.
"""
# livedocs: timeout=180

from pathlib import Path

import mlflow
import pandas as pd
from fastapi.testclient import TestClient
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

import mltrack
from mltrack.serve.app import create_app

MODEL = "diabetes-gbr"

# ---- 1. Training pipeline: data -> model -> evaluation -> registry -------------------
X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_new, y_train, y_new = train_test_split(X, y, test_size=0.2, random_state=0)


@mltrack.track(name="train-gbr")
def train(n_estimators: int = 150, max_depth: int = 2, learning_rate: float = 0.05) -> dict:
    model = GradientBoostingRegressor(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=learning_rate,
        random_state=0,
    ).fit(X_train, y_train)
    predictions = model.predict(X_new)
    version = mltrack.save(model, MODEL, input_example=X_new[:3], quiet=True)
    mltrack.promote(MODEL, version.version, reason="scheduled retrain")
    print(f"registered {version} and promoted it to @champion")
    return {"r2": r2_score(y_new, predictions), "mae": mean_absolute_error(y_new, predictions)}


print("training:", {k: round(v, 3) for k, v in train().items()})

# ---- 2. Batch inference: score a file, write a file, track the job -------------------
Path("incoming.csv").write_text(X_new.to_csv(index=False))  # what the upstream job drops


@mltrack.track(name="batch-score")
def batch_score(source: str, destination: str, chunk_rows: int = 25) -> dict:
    version = mlflow.MlflowClient().get_model_version_by_alias(MODEL, "champion").version
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}")  # loaded once per job
    batches = []
    for chunk in pd.read_csv(source, chunksize=chunk_rows):
        batches.append(chunk.assign(prediction=model.predict(chunk)))
    scored = pd.concat(batches)
    scored.to_csv(destination, index=False)
    mlflow.set_tags({"model_name": MODEL, "model_version": version})  # what scored the file
    return {
        "rows": len(scored),
        "chunks": len(batches),
        "mean_prediction": round(float(scored.prediction.mean()), 3),
    }


print("batch:", batch_score("incoming.csv", "scored.csv"))
print(pd.read_csv("scored.csv").iloc[:3, -3:].round(3).to_string(index=False))

# ---- 3. Online inference: the same alias behind an HTTP API --------------------------
with TestClient(create_app(MODEL, auth=False)) as api:  # what `ml ship MODEL --local` runs
    one_patient = X_new.iloc[[0]].to_dict("records")
    reply = api.post("/predict", json={"records": one_patient})
    print("online:", reply.status_code, reply.json())
    meta = api.get("/metadata").json()
    print(f"serving {meta['name']} v{meta['version']} (@{meta['alias']})")

batch_first = pd.read_csv("scored.csv").prediction.iloc[0]
assert abs(batch_first - reply.json()["predictions"][0]) < 1e-9, "batch and online agree"
print("batch and online predictions agree for the same row")

# --- checks ---
client = mlflow.MlflowClient()
champion = client.get_model_version_by_alias(MODEL, "champion")
assert str(meta["version"]) == str(champion.version) and meta["alias"] == "champion", meta
(job,) = mlflow.search_runs(
    filter_string="attributes.run_name = 'batch-score'", max_results=1, output_format="list"
)
assert job.data.metrics["rows"] == len(X_new) == len(pd.read_csv("scored.csv"))
assert job.data.metrics["chunks"] == -(-len(X_new) // 25)
assert job.data.tags["model_version"] == str(champion.version), job.data.tags
assert job.data.tags["model_name"] == MODEL
(training,) = mlflow.search_runs(
    filter_string="attributes.run_name = 'train-gbr'", max_results=1, output_format="list"
)
assert training.info.run_id == champion.run_id and training.data.metrics["r2"] > 0.3
assert reply.status_code == 200
