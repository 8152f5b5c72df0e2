"""`mltrack.save` and autologging with PyTorch, Keras 3, XGBoost and Transformers.

Each test needs its framework (the `docs-examples` extra and the PyTorch CPU wheel that
`make install` adds) and is skipped without it. Models are tiny so the whole file runs in
seconds; each saved version is loaded back through pyfunc and compared with the original.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest

import mltrack
from mltrack import registry
from mltrack.frameworks import detect_frameworks, enable_autolog

# Keras reads its backend once, at import; the docs examples use PyTorch's.
os.environ.setdefault("KERAS_BACKEND", "torch")


def _requirements(uri: str, tmp_path: Path) -> list[str]:
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path))
    return (Path(local) / "requirements.txt").read_text().split()


def _pinned(requirements: list[str], package: str) -> str:
    lines = [r for r in requirements if r.split("==")[0] == package]
    assert lines, f"{package} missing from {requirements}"
    return lines[0]


def test_save_torch_module_loads_back_and_pins_torch_without_local_label(
    experiment: str, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    X = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")

    info = registry.save(model, f"{experiment}-torch", input_example=X, quiet=True)

    assert info.flavor == "pytorch" and info.tags["mltrack.flavor"] == "pytorch"
    loaded = mlflow.pyfunc.load_model(info.uri)
    expected = model(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(np.asarray(loaded.predict(X)), expected, rtol=1e-5)
    torch_pin = _pinned(_requirements(info.uri, tmp_path), "torch")
    assert torch_pin == f"torch=={torch.__version__.split('+')[0]}"
    assert "torch" in enable_autolog(), "torch is imported: its autologging must be on"


def test_save_keras_model_autologs_fit_and_records_backend(experiment: str, tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip("mlflow.keras needs Keras 3")
    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("int64")
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))

    assert "keras" in detect_frameworks()
    with mltrack.run("keras-fit") as run:
        model.fit(X, y, epochs=2, verbose=0)
        info = registry.save(model, f"{experiment}-keras", input_example=X[:3], quiet=True)

    assert info.flavor == "keras" and info.run_id == run.id
    assert "loss" in mltrack.get_run(run.id).metrics, "MLflow's Keras autologging logs fit"
    model_info = mlflow.models.get_model_info(info.uri)
    assert model_info.signature is not None, "the input example gives the signature"
    backend = keras.backend.backend()
    assert model_info.flavors["keras"]["keras_backend"] == backend
    requirements = _requirements(info.uri, tmp_path)
    assert _pinned(requirements, "keras") == f"keras=={keras.__version__}"
    if backend == "torch":
        _pinned(requirements, "torch")
    loaded = mlflow.pyfunc.load_model(info.uri)
    np.testing.assert_allclose(
        np.asarray(loaded.predict(X[:5])), model.predict(X[:5], verbose=0), rtol=1e-5
    )


def test_save_xgboost_classifier_uses_xgboost_flavor_not_sklearn(
    experiment: str, data: tuple[Any, Any, Any, Any]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X_tr, X_val, y_tr, y_val = data
    with mltrack.run("xgb-fit") as run:
        model = xgb.XGBClassifier(n_estimators=5, max_depth=2, random_state=0)
        model.fit(X_tr, y_tr, eval_set=[(X_val, y_val)], verbose=False)
        info = registry.save(model, f"{experiment}-xgb", input_example=X_val[:3], quiet=True)

    assert info.flavor == "xgboost"
    assert "validation_0-logloss" in mltrack.get_run(run.id).metrics, "autologged rounds"
    loaded = mlflow.pyfunc.load_model(info.uri)
    np.testing.assert_array_equal(np.asarray(loaded.predict(X_val[:10])), model.predict(X_val[:10]))


def test_save_transformers_pipeline_without_torchvision(experiment: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "movie"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    config = transformers.BertConfig(
        vocab_size=len(words),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        num_labels=2,
    )
    model = transformers.BertForSequenceClassification(config).eval()
    classifier = transformers.pipeline(
        "text-classification", model=model, tokenizer=tokenizer, device=-1
    )

    info = registry.save(classifier, f"{experiment}-bert", input_example=["good movie"], quiet=True)

    assert info.flavor == "transformers"
    requirements = _requirements(info.uri, tmp_path)
    assert _pinned(requirements, "transformers") == f"transformers=={transformers.__version__}"
    _pinned(requirements, "torch")
    loaded = mlflow.pyfunc.load_model(info.uri)
    predicted = loaded.predict(["good movie", "bad movie"])
    assert list(predicted["label"]) == [p["label"] for p in classifier(["good movie", "bad movie"])]
