"""Call a served model from Python: one POST to `/predict` with a bearer token.

The model is registered and served locally first (`ml ship NAME --local` does the same
from a terminal); the client is plain `httpx`, any HTTP library works.
"""
# livedocs: timeout=180

import os
import secrets

import httpx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.deploy.local import start_local

X, y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
model = LogisticRegression(max_iter=500).fit(X, y)
mltrack.save(model, name="iris-call", input_example=X.head(2), quiet=True)
os.environ["MLTRACK_API_TOKEN"] = secrets.token_urlsafe(32)  # the server's token

with start_local("iris-call") as server:
    response = httpx.post(
        f"{server.url}/predict",
        json={"records": [X.iloc[0].to_dict(), X.iloc[120].to_dict()]},
        headers={"Authorization": f"Bearer {os.environ['MLTRACK_API_TOKEN']}"},
    )
    response.raise_for_status()
    print(response.status_code, response.json())

# --- checks ---
assert response.status_code == 200
expected = model.predict(X.iloc[[0, 120]]).tolist()
assert response.json()["predictions"] == expected  # one per row, in input order
