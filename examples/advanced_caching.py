"""Caching with mltrack and the standard library: models by version, predictions by input.

mltrack's server loads its model once, at startup, and keeps it in memory. In your own
jobs and services, cache the loaded model keyed by the *version* an alias points to (not
the alias itself), so a promotion is picked up at the next lookup; and cache predictions
for inputs that repeat.
"""

import time
from functools import lru_cache

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
for C in (0.1, 1.0):
    saved = mltrack.save(
        LogisticRegression(C=C, max_iter=500).fit(X, y),
        "iris-cached",
        input_example=X[:2],
        quiet=True,
    )
mltrack.promote("iris-cached", 1)
client = mlflow.MlflowClient()


@lru_cache(maxsize=4)
def load_version(name: str, version: str):
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}")


def champion(name: str):
    """The champion's version and model; each version is loaded once."""
    version = client.get_model_version_by_alias(name, "champion").version  # cheap lookup
    return version, load_version(name, version)


for attempt in range(3):
    started = time.perf_counter()
    version, model = champion("iris-cached")
    print(f"lookup {attempt + 1}: v{version} {1000 * (time.perf_counter() - started):7.1f} ms")
mltrack.promote("iris-cached", 2, reason="retrained")
started = time.perf_counter()
champion("iris-cached")
print(f"after promoting v2: {1000 * (time.perf_counter() - started):7.1f} ms (new version loaded)")
print(load_version.cache_info())


# Keyed by the model version too: a promotion starts a new set of answers, never serves
# the old model's.
@lru_cache(maxsize=10_000)
def predict_row(version: str, row: tuple[float, ...]) -> int:
    frame = X.iloc[:0].copy()
    frame.loc[0] = row
    return int(load_version("iris-cached", version).predict(frame)[0])


def predict(row: tuple[float, ...]) -> int:
    version, _ = champion("iris-cached")  # one small request; the model is cached
    return predict_row(version, row)


requests = [tuple(X.iloc[i % 5]) for i in range(200)]  # 200 requests, 5 distinct inputs
started = time.perf_counter()
answers = [predict(row) for row in requests]
print(
    f"\n200 predictions in {1000 * (time.perf_counter() - started):.0f} ms; {predict_row.cache_info()}"
)

# --- checks ---
assert str(client.get_model_version_by_alias("iris-cached", "champion").version) == "2"
info = load_version.cache_info()
assert info.misses == 2 and info.currsize == 2, f"each version loads once: {info}"
row_info = predict_row.cache_info()
assert (row_info.misses, row_info.hits) == (5, 195), row_info
assert len(answers) == 200 and set(answers) <= {0, 1, 2}
