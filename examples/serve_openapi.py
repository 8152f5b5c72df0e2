# livedocs: timeout=180
"""Print the OpenAPI document of a served model, as the server generates it.

The REST API reference page renders this output in an interactive explorer. The request
schemas (`Record`, `RecordsRequest`, ...) come from the model signature: field names,
types and required flags are the model's own.
"""

import json

import httpx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.deploy.local import start_local

X, y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), name="iris-api", input_example=X.head(2), quiet=True
)
mltrack.promote("iris-api", saved.version, to="champion")

with start_local("iris-api") as server:
    schema = httpx.get(f"{server.url}/openapi.json").json()  # public, like /docs

print(json.dumps(schema, indent=2))

# --- checks ---
components = schema["components"]["schemas"]
assert components["Record"]["required"] == list(X.columns)  # the signature's fields
assert components["Records"]["minItems"] == 1  # an empty list is refused, and says so
post = schema["paths"]["/predict"]["post"]
assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
    "PredictRequest"
)
assert {"200", "400", "401", "413", "422", "429"} <= set(post["responses"])
assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
