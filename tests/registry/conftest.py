"""Fixtures for the registry, model card and insights tests: small sklearn models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Trained:
    """A model trained and logged in a finished run, with what was logged."""

    run_id: str
    model: Any
    metrics: dict[str, float]
    params: dict[str, str]
    X_val: Any


@pytest.fixture(scope="session")
def data() -> tuple[Any, Any, Any, Any]:
    """A small synthetic binary classification set, split train/validation."""
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=240, n_features=5, n_informative=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    return tuple(train_test_split(frame, y, test_size=0.3, random_state=0))  # type: ignore[return-value]


@pytest.fixture()
def train(experiment: str, data: tuple[Any, Any, Any, Any]) -> Callable[..., Trained]:
    """Train a random forest in a new MLflow run of the test's experiment and log it."""
    import mlflow
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score

    X_tr, X_val, y_tr, y_val = data
    mlflow.set_experiment(experiment)

    def _train(
        max_depth: int | None = 3,
        n_estimators: int = 10,
        metrics: dict[str, float] | None = None,
        log_data: bool = True,
        run_name: str | None = None,
    ) -> Trained:
        model = RandomForestClassifier(
            n_estimators=n_estimators, max_depth=max_depth, random_state=0
        ).fit(X_tr, y_tr)
        with mlflow.start_run(run_name=run_name) as run:
            params = {"max_depth": str(max_depth), "n_estimators": str(n_estimators)}
            mlflow.log_params(params)
            if log_data:
                dataset = mlflow.data.from_pandas(
                    X_tr.assign(y=y_tr), name="synthetic", targets="y"
                )
                mlflow.log_input(dataset, context="training")
            logged = metrics or {
                "train_accuracy": accuracy_score(y_tr, model.predict(X_tr)),
                "val_accuracy": accuracy_score(y_val, model.predict(X_val)),
                "val_f1": f1_score(y_val, model.predict(X_val)),
            }
            mlflow.log_metrics(logged)
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=X_val[:3],
                serialization_format="skops",
                skops_trusted_types=["sklearn.tree._tree.Tree"],
                pip_requirements=["scikit-learn"],
            )
        return Trained(run.info.run_id, model, logged, params, X_val)

    return _train
