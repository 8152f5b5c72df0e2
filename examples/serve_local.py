# livedocs: timeout=180
"""Serve the champion of a registered model and call it over HTTP.

A model is trained, saved and promoted to `champion`; `start_local` runs the same server
as `ml ship NAME --local` in a background process (on a free port, with a bearer token)
and stops it at the end. The calls show the input formats and what a wrong request gets.
"""

import httpx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.deploy.local import start_local

X, y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
model = LogisticRegression(max_iter=500).fit(X, y)
saved = mltrack.save(model, name="iris-served", input_example=X.head(3), quiet=True)
mltrack.promote("iris-served", saved.version, to="champion", reason="first model")

with start_local("iris-served") as server:  # NAME means models:/NAME@champion
    api = httpx.Client(base_url=server.url, headers=server.headers)
    print(f"ready in {server.startup_s:.1f} s")

    rows = X.sample(3, random_state=0)
    by_records = api.post("/predict", json={"records": rows.to_dict("records")}).json()
    print("records:", by_records)
    split = {"columns": list(rows.columns), "data": rows.values.tolist()}
    by_split = api.post("/predict", json={"split": split}).json()
    print("split:  ", by_split)
    by_columns = api.post("/predict", json={"columns": rows.to_dict("list")}).json()
    print("columns:", by_columns)

    typo = {**rows.iloc[0].to_dict(), "sepal_length": "long"}
    bad = api.post("/predict", json={"records": [typo]})
    print(bad.status_code, bad.json()["error"])
    anonymous = httpx.post(f"{server.url}/predict", json=[])
    print(anonymous.status_code, "without the token")

    meta = api.get("/metadata").json()
    print(
        f"serving {meta['name']} v{meta['version']} (@{meta['alias']}), flavors {meta['flavors']}"
    )
    metrics = api.get("/metrics").text.splitlines()
    print(*[line for line in metrics if line.startswith("mltrack_requests_total")], sep="\n")

# --- checks ---
expected = model.predict(rows).tolist()
assert by_records["predictions"] == by_split["predictions"] == by_columns["predictions"] == expected
assert bad.status_code == 422 and bad.json()["field"] == "sepal_length"
assert anonymous.status_code == 401
assert meta["name"] == "iris-served" and meta["alias"] == "champion"
assert any('status="200"' in line for line in metrics if line.startswith("mltrack_requests_total"))
