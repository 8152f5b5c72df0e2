"""mltrack.registry against a real MLflow server: save, versions, aliases, promotion."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from mltrack import registry
from mltrack.errors import MltrackError, ModelNotFoundError, RunNotFoundError, UnsupportedModelError


def test_save_pipeline_registers_version_with_signature_and_example(
    experiment: str, data: tuple[Any, Any, Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_tr, X_val, y_tr, _ = data
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_tr, y_tr)
    info = registry.save(pipe, name=f"{experiment}-pipe", input_example=X_val)

    assert str(info) == info.uri == f"models:/{experiment}-pipe/1"
    assert info.uri in capsys.readouterr().out
    assert info.flavor == "sklearn" and info.version == "1"
    model_info = mlflow.models.get_model_info(info.uri)
    assert [c["name"] for c in model_info.signature.inputs.to_dict()] == list(X_val.columns)
    assert model_info.saved_input_example_info is not None
    loaded = mlflow.pyfunc.load_model(info.uri)
    np.testing.assert_array_equal(loaded.predict(X_val[:10]), pipe.predict(X_val[:10]))
    run = MlflowClient().get_run(info.run_id)
    assert run.info.run_name == f"save-{experiment}-pipe"
    assert run.data.tags["mltrack.model_class"] == "Pipeline(StandardScaler → LogisticRegression)"


def test_save_into_finished_run_keeps_its_end_time_and_metrics(train: Any, experiment: str) -> None:
    trained = train()
    client = MlflowClient()
    before = client.get_run(trained.run_id)
    info = registry.save(trained.model, name=experiment, run=trained.run_id, quiet=True)
    after = client.get_run(trained.run_id)
    assert info.run_id == trained.run_id
    assert after.info.status == "FINISHED" and after.info.end_time == before.info.end_time
    assert info.metrics == pytest.approx(trained.metrics)
    # no input example given: a one-row example with the fitted column names is stored
    model_info = mlflow.models.get_model_info(info.uri)
    assert [c["name"] for c in model_info.signature.inputs.to_dict()] == [f"f{i}" for i in range(5)]
    assert info.tags["mltrack.input_example"].startswith("synthetic")


def test_pyfunc_fallback_and_unsupported_object(tracking_uri: str, experiment: str) -> None:
    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: list[float]) -> list[float]:
            return [2 * x for x in model_input]

    info = registry.save(Doubler(), name=f"{experiment}-py", input_example=[1.0, 2.0], quiet=True)
    assert info.flavor == "pyfunc"
    assert mlflow.pyfunc.load_model(info.uri).predict([3.0]) == [6.0]
    with pytest.raises(UnsupportedModelError, match="PythonModel"):
        registry.save(object(), name=f"{experiment}-bad")
    with pytest.raises(MltrackError, match="invalid model name"):
        registry.save(Doubler(), name="a/b")


def test_promote_moves_aliases_and_records_who_when_why(train: Any, experiment: str) -> None:
    name = experiment
    v1 = registry.save(train(max_depth=2).model, name=name, quiet=True)
    v2 = registry.save(train(max_depth=4).model, name=name, quiet=True)

    registry.promote(name, v1.version, to="champion", reason="baseline")
    registry.promote(name, v2.version, to="challenger")
    fresh = MlflowClient()  # a new client sees what the server holds
    assert fresh.get_model_version_by_alias(name, "champion").version == "1"
    assert fresh.get_model_version_by_alias(name, "challenger").version == "2"

    promoted = registry.promote(name, "challenger", to="champion", reason="better F1")
    assert promoted.version == "2" and promoted.aliases == ("champion",)
    fresh = MlflowClient()
    assert fresh.get_model_version_by_alias(name, "champion").version == "2"
    assert "challenger" not in fresh.get_registered_model(name).aliases
    tags = fresh.get_model_version(name, "2").tags
    assert tags["mltrack.promoted_to"] == "champion"
    assert tags["mltrack.promotion_reason"] == "better F1"
    assert tags["mltrack.previous_champion"] == "1"
    assert tags["mltrack.promoted_by"] and tags["mltrack.promoted_at"].endswith("+00:00")
    assert fresh.get_model_version(name, "1").tags["mltrack.replaced_by"].startswith("2 (champion")

    versions = registry.list_versions(name)
    assert [v.version for v in versions] == ["2", "1"]
    assert versions[0].aliases == ("champion",) and versions[1].aliases == ()
    summary = {m.name: m for m in registry.list_models()}[name]
    assert summary.latest_version == "2" and summary.aliases == {"champion": "2"}


def test_bad_references_raise_clear_errors(train: Any, experiment: str) -> None:
    registry.save(train().model, name=experiment, quiet=True)
    with pytest.raises(ModelNotFoundError, match="no registered model named 'nope-"):
        registry.promote(f"nope-{experiment}", 1)
    with pytest.raises(ModelNotFoundError, match="has no version 7"):
        registry.promote(experiment, 7)
    with pytest.raises(MltrackError, match="invalid alias 'latest'"):
        registry.promote(experiment, 1, to="latest")
    with pytest.raises(RunNotFoundError, match="no run with id"):
        registry.resolve_model("0" * 32)
    with pytest.raises(ModelNotFoundError, match="has no alias '@challenger'"):
        registry.resolve_model(f"models:/{experiment}@challenger")


def test_register_logged_model_of_run_and_latest(
    train: Any, experiment: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    first = train()
    second = train(max_depth=5)
    assert registry.latest_logged_model(experiment).startswith("models:/m-")
    # Registering reads the model's flavor from its MLmodel file, and leaves no temp dir
    # (MLflow's get_model_info() would leave one per call).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    latest = registry.register(registry.latest_logged_model(experiment), experiment, quiet=True)
    assert latest.flavor == "sklearn" and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert latest.run_id == second.run_id
    older = registry.register(registry.logged_model_of_run(first.run_id), experiment, quiet=True)
    assert older.run_id == first.run_id and older.version == "2"
    with mlflow.start_run() as bare:
        mlflow.log_metric("x", 1.0)
    with pytest.raises(ModelNotFoundError, match="logged no model"):
        registry.logged_model_of_run(bare.info.run_id)


def test_flavor_detection_never_imports_frameworks() -> None:
    import sys

    from sklearn.linear_model import Ridge

    frameworks = ("torch", "xgboost", "transformers")
    before = {m for m in frameworks if m in sys.modules}
    assert registry.detect_flavor(Ridge()) == "sklearn"
    assert {m for m in frameworks if m in sys.modules} == before


def test_save_accepts_an_already_logged_model_uri(train: Any, experiment: str) -> None:
    trained = train()
    uri = registry.logged_model_of_run(trained.run_id)
    info = registry.save(uri, name=experiment, quiet=True)
    assert info.run_id == trained.run_id and info.flavor == "sklearn"  # read from MLmodel
    assert registry.get_version(experiment, "1").model_id == uri.split("/")[-1]
