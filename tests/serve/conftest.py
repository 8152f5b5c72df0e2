"""Models for the serving tests: trained here on synthetic data, registered on the real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mltrack.localserver import ThrowawayServer
from tests._helpers import tracking_to


@dataclass
class ServedModels:
    """Registered model names plus the frame used to train/check them."""

    table: str  # column signature (a, b, c: double; n: long), alias @champion
    tensor: str  # tensor signature float64 (-1, 4), no alias
    plain: str  # the table's signature without the guard that raises (for the fuzzer)
    columns: tuple[str, ...] = ("a", "b", "c", "n")


@pytest.fixture(scope="session")
def served_models(mlflow_server: ThrowawayServer) -> Iterator[ServedModels]:
    """Two tiny sklearn models logged with input examples and registered."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    def explode_on_huge(frame):  # a local function: cloudpickle stores it by value
        if (frame["a"] > 1e6).any():
            raise ValueError("internal detail that must not leak")
        return frame

    suffix = uuid.uuid4().hex[:8]
    names = ServedModels(
        table=f"serve-table-{suffix}",
        tensor=f"serve-tensor-{suffix}",
        plain=f"serve-plain-{suffix}",
    )
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    frame["n"] = rng.integers(0, 5, size=120)
    target = (frame["a"] + 0.5 * frame["n"] > 1).astype(int)
    pipeline = Pipeline(
        [("guard", FunctionTransformer(explode_on_huge)), ("clf", LogisticRegression())]
    ).fit(frame, target)
    with tracking_to(mlflow_server.url):
        mlflow.set_experiment(f"serve-tests-{suffix}")
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                pipeline,
                name="model",
                input_example=frame.head(3),
                registered_model_name=names.table,
                serialization_format="cloudpickle",
            )
            mlflow.sklearn.log_model(
                LogisticRegression().fit(frame, target),
                name="plain",
                input_example=frame.head(3),
                registered_model_name=names.plain,
            )
            arrays = frame[["a", "b", "c", "n"]].to_numpy(dtype="float64")
            mlflow.sklearn.log_model(
                LogisticRegression().fit(arrays, target),
                name="tensor",
                input_example=arrays[:2],
                registered_model_name=names.tensor,
            )
        MlflowClient().set_registered_model_alias(names.table, "champion", "1")
        yield names
