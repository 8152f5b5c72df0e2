"""A registered sklearn model (with @champion) for the deploy target tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mltrack.localserver import ThrowawayServer
from tests._helpers import tracking_to

CARD = "# Deploy test model\n\nLogistic regression on synthetic data.\n"


@dataclass
class DeployModel:
    name: str
    rows: list[dict[str, float]]
    expected: list[int]


@pytest.fixture(scope="session")
def deploy_model(mlflow_server: ThrowawayServer) -> Iterator[DeployModel]:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    name = f"deploy-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(100, 3)), columns=["x1", "x2", "x3"])
    model = LogisticRegression().fit(frame, (frame["x1"] - frame["x3"] > 0).astype(int))
    with tracking_to(mlflow_server.url):
        mlflow.set_experiment(f"deploy-tests-{name}")
        with mlflow.start_run():
            mlflow.log_text(CARD, "model_card.md")  # where mltrack.model_card() stores it
            mlflow.sklearn.log_model(
                model, name="model", input_example=frame.head(2), registered_model_name=name
            )
        MlflowClient().set_registered_model_alias(name, "champion", "1")
        rows = frame.head(4).to_dict(orient="records")
        yield DeployModel(name, rows, [int(v) for v in model.predict(frame.head(4))])
