"""Custom models: wrap anything in `mlflow.pyfunc.PythonModel` and it ships like the rest.

A rule-based fraud scorer (no ML framework at all) becomes a registered model version
with a signature, loads back through `mlflow.pyfunc`, and is served by the same app as
`ml ship NAME --local` (here in-process through FastAPI's test client). Objects mltrack
cannot save get an `UnsupportedModelError` that says how to wrap them.
"""

import mlflow
import pandas as pd
from fastapi.testclient import TestClient

import mltrack
from mltrack.errors import UnsupportedModelError
from mltrack.serve.app import create_app


class FraudRules(mlflow.pyfunc.PythonModel):
    """Score a transaction: large amounts at night from new accounts are risky."""

    def __init__(self, amount_limit: float = 500.0):
        self.amount_limit = amount_limit

    def predict(self, context, model_input: pd.DataFrame, params=None):
        night = model_input["hour"].between(0, 5)
        large = model_input["amount"] > self.amount_limit
        new = model_input["account_age_days"] < 30
        return (0.2 * night + 0.5 * large + 0.3 * new).round(2).tolist()


class NotAModel:
    pass


try:
    mltrack.save(NotAModel(), "not-a-model")
except UnsupportedModelError as exc:
    print("UnsupportedModelError:", exc, "\n")

example = pd.DataFrame(
    {"amount": [25.0, 900.0], "hour": [14.0, 3.0], "account_age_days": [400.0, 5.0]},
)
with mltrack.run("fraud-rules", params={"amount_limit": 500.0}):
    version = mltrack.save(FraudRules(500.0), "fraud-rules", input_example=example, quiet=True)
mltrack.promote("fraud-rules", version.version, reason="rules v1")
print("saved", version, "flavor:", version.flavor)

loaded = mlflow.pyfunc.load_model(str(version))
print("pyfunc predict:", loaded.predict(example))

with TestClient(create_app("fraud-rules", auth=False)) as api:
    reply = api.post("/predict", json={"records": example.to_dict("records")})
    print("POST /predict:", reply.status_code, reply.json())

# --- checks ---
assert reply.status_code == 200, reply.status_code
assert reply.json()["predictions"] == [0.0, 1.0], reply.json()
assert list(loaded.predict(example)) == [0.0, 1.0]
assert version.flavor == "pyfunc", version.flavor
client = mlflow.MlflowClient()
assert str(client.get_model_version_by_alias("fraud-rules", "champion").version) == str(
    version.version
)
assert mlflow.models.get_model_info(str(version)).signature is not None, "saved with a signature"
try:
    mltrack.save(NotAModel(), "not-a-model")
    raise AssertionError("saving a plain object must raise UnsupportedModelError")
except UnsupportedModelError as exc:
    assert "PythonModel" in str(exc), "the error says how to wrap the object"
