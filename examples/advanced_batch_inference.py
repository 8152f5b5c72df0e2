"""Batch inference: score 20,000 rows with the champion, three ways, and track the job.

1. in-process with `mlflow.pyfunc`, in chunks (bounded memory, the usual scheduled job);
2. in parallel chunks with a thread pool (scikit-learn releases the GIL in NumPy code);
3. through a served model's `POST /predict/batch` (the server scores a large batch in a
   worker thread, so its probes and small requests stay responsive).
All three load `models:/NAME@champion`, so they score with the same model version: the
checks compare the served version and the positive rates of the three.
"""
# livedocs: timeout=180

import time
from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.serve.app import create_app

X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
columns = [f"f{i}" for i in range(10)]
train = pd.DataFrame(X, columns=columns)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(train, y),
    "batch-demo",
    input_example=train[:3],
    quiet=True,
)
mltrack.promote("batch-demo", saved.version)

rng = np.random.default_rng(0)
incoming = pd.DataFrame(rng.normal(size=(20_000, 10)), columns=columns)
chunks = [incoming[i : i + 5000] for i in range(0, len(incoming), 5000)]


@mltrack.track(name="batch-score")
def score(mode: str, rows: int = len(incoming)) -> dict[str, float]:
    # Resolve the alias once, load that version once, and record it on the run.
    version = mlflow.MlflowClient().get_model_version_by_alias("batch-demo", "champion").version
    model = mlflow.pyfunc.load_model(f"models:/batch-demo/{version}")
    mlflow.set_tag("model_version", version)
    started = time.perf_counter()
    if mode == "chunks":
        predictions = np.concatenate([model.predict(chunk) for chunk in chunks])
    else:
        with ThreadPoolExecutor(max_workers=4) as pool:
            predictions = np.concatenate(list(pool.map(model.predict, chunks)))
    seconds = time.perf_counter() - started
    return {"rows_per_s": rows / seconds, "positive_rate": float(predictions.mean())}


for mode in ("chunks", "threads"):
    result = score(mode)
    print(
        f"{mode:<8} {result['rows_per_s']:>12,.0f} rows/s  positive rate {result['positive_rate']:.3f}"
    )

with TestClient(create_app("batch-demo", auth=False)) as api:
    served_version = api.get("/metadata").json()["version"]
    started = time.perf_counter()
    served = []
    for chunk in chunks:
        reply = api.post("/predict/batch", json={"split": chunk.to_dict("split", index=False)})
        served.extend(reply.json()["predictions"])
    seconds = time.perf_counter() - started
scored, http_rate = len(served), float(np.mean(served))
print(
    f"{'http':<8} {scored / seconds:>12,.0f} rows/s  positive rate {http_rate:.3f}"
    f"  ({scored} rows in {len(chunks)} requests, version {served_version})"
)

# --- checks ---
client = mlflow.MlflowClient()
assert str(client.get_model_version_by_alias("batch-demo", "champion").version) == str(
    saved.version
)
runs = mlflow.search_runs(
    filter_string="attributes.run_name = 'batch-score'", max_results=2, output_format="list"
)
assert len(runs) == 2, f"expected one batch-score run per mode, found {len(runs)}"
for run in runs:
    assert run.data.tags["model_version"] == str(saved.version), run.data.tags
    assert {"rows_per_s", "positive_rate"} <= set(run.data.metrics), run.data.metrics
    assert 0 < run.data.metrics["positive_rate"] < 1
assert scored == len(incoming) == 20_000, f"the served model scored {scored} rows"
# The same model version, so the same answers: the three ways agree to the last row.
assert served_version == str(saved.version), served_version
assert all(run.data.metrics["positive_rate"] == http_rate for run in runs), http_rate
