"""Serving and deploy: a model behind HTTP, and the artifacts to deploy it elsewhere.

`start_local` runs the model server (`python -m mltrack.serve`) in the background and
waits until it answers; `mltrack.ship(..., dry_run=True)` writes a target's artifacts
(here a Docker build context) without running any tool. In-process, `load_model` loads a
registered model and `create_app` builds the same FastAPI app the server runs;
`get_target` names what each `ship(to=...)` target does.
"""
# livedocs: timeout=240

import httpx
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.deploy import TARGETS, get_target
from mltrack.deploy.local import start_local
from mltrack.serve import create_app, load_model

X, y = load_iris(return_X_y=True, as_frame=True)
mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), "api-serve", input_example=X.head(2), quiet=True
)

server = start_local("api-serve")  # a bearer token is required by default
try:
    reply = httpx.post(
        f"{server.url}/predict",
        json={"records": X.head(2).to_dict(orient="records")},
        headers=server.headers,
        timeout=30,
    )
    print("POST /predict ->", reply.status_code, reply.json()["predictions"])
    anonymous = httpx.post(f"{server.url}/predict", json={"records": []}, timeout=30)
    print("without the token ->", anonymous.status_code)
finally:
    server.stop()

result = mltrack.ship("api-serve", to="docker", dry_run=True, output_dir="build/docker")
print("docker build context:", sorted(result.files))
print("targets:", {name: type(get_target(name)).__name__ for name in TARGETS})

loaded = load_model("api-serve")  # NAME means its champion, else its latest version
print("in process:", loaded.predict(X.head(2)).tolist())
with TestClient(create_app(loaded, auth=False)) as api:
    local = api.post("/predict", json={"records": X.head(2).to_dict(orient="records")})
print("create_app POST /predict ->", local.status_code, local.json()["predictions"])

# --- checks ---
assert loaded.predict(X.head(2)).tolist() == [0, 0]
assert local.status_code == 200 and local.json()["predictions"] == [0, 0], local.text
assert all(get_target(name).name == name for name in TARGETS), TARGETS
assert reply.status_code == 200 and reply.json()["predictions"] == [0, 0], reply.text
assert anonymous.status_code == 401, anonymous.text
assert (result.output_dir / "Dockerfile").is_file() and not result.deployed, result
