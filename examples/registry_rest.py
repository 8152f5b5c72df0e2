"""The registry over MLflow's REST API: register a logged model, set an alias, list versions.

What `mltrack.save`, `mltrack.promote` and `ml models` do, as plain HTTP calls any
language can make. The model itself is logged from Python (artifacts are files, not JSON);
everything after that is `/api/2.0/mlflow/...` requests to the tracking server. Without a
server in `MLFLOW_TRACKING_URI` the script starts a throwaway one on 127.0.0.1.
"""

import contextlib
import json
import os

import httpx
import mlflow
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from mltrack.localserver import throwaway_server

NAME = "iris-rest-registry"

with contextlib.ExitStack() as stack:
    if not os.environ.get("MLFLOW_TRACKING_URI", "").startswith("http"):
        mlflow.set_tracking_uri(stack.enter_context(throwaway_server()).url)
    X, y = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run(run_name="iris-tree") as run:
        logged = mlflow.sklearn.log_model(
            DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
            name="model",
            input_example=X[:2],
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )

    user, password = (os.environ.get(f"MLFLOW_TRACKING_{k}") for k in ("USERNAME", "PASSWORD"))
    api = httpx.Client(
        base_url=f"{mlflow.get_tracking_uri()}/api/2.0/mlflow",
        auth=(user, password) if user and password else None,
        timeout=30,
    )

    def call(method: str, path: str, **body: object) -> dict:
        """Send one request, print it and the status, return the JSON answer."""
        if method == "GET":
            response = api.get(path, params=body)
        else:
            response = api.request(method, path, json=body)
        print(f"{method} /api/2.0/mlflow{path} {json.dumps(body)}")
        print(f"-> {response.status_code}")
        response.raise_for_status()
        return response.json()

    call("POST", "/registered-models/create", name=NAME)
    version = call(
        "POST",
        "/model-versions/create",
        name=NAME,
        source=logged.model_uri,  # models:/m-<id>, the logged model
        run_id=run.info.run_id,
        model_id=logged.model_id,
    )["model_version"]["version"]
    call("POST", "/registered-models/alias", name=NAME, alias="champion", version=version)

    champion = call("GET", "/registered-models/alias", name=NAME, alias="champion")
    print("champion is version", champion["model_version"]["version"], "\n")
    model = call("GET", "/registered-models/get", name=NAME)["registered_model"]
    print("aliases:", {a["alias"]: a["version"] for a in model["aliases"]}, "\n")
    for v in call("GET", "/model-versions/search", filter=f"name='{NAME}'")["model_versions"]:
        print(f"v{v['version']}: {v['status']}, source {v['source']}, run {v['run_id'][:8]}")

    # --- checks ---
    assert api.get("/registered-models/get", params={"name": NAME}).status_code == 200
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == str(version)
    assert client.get_model_version(NAME, str(version)).run_id == run.info.run_id
