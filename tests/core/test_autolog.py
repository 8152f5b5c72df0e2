"""Framework autologging: on by default, the off switches, and per-run control.

The subprocess tests start a fresh interpreter (autologging is process-wide in MLflow)
that fits a scikit-learn model inside ``@track``; what MLflow's autologging did is read
back from the real server with ``MlflowClient``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack import frameworks
from mltrack.errors import ConfigError

SCRIPT = textwrap.dedent(
    """
    import json

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import mltrack
    from mltrack.frameworks import active_autolog
    from mltrack.tracking import current_run

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    seen = {}


    @mltrack.track
    def fit(C: float = 1.0) -> dict:
        seen["run_id"] = current_run().id
        seen["active"] = active_autolog()
        model = LogisticRegression(C=C).fit(X, y)
        return {"test_accuracy": float(model.score(X, y))}


    fit()
    print(json.dumps(seen))
    """
)


def _fit_in_subprocess(
    cwd: Path, extra_env: dict[str, str], config: str | None = None
) -> subprocess.Popen[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "fit.py").write_text(SCRIPT)
    if config is not None:
        (cwd / ".mltrack.yml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_AUTOLOG")}
    return subprocess.Popen(
        [sys.executable, "fit.py"],
        cwd=cwd,
        env={**env, **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _metrics_of(proc: subprocess.Popen[str]) -> tuple[list[str], dict[str, float]]:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    seen = json.loads(out.strip().splitlines()[-1])
    run = MlflowClient().get_run(seen["run_id"])
    assert run.info.status == "FINISHED"
    return seen["active"], dict(run.data.metrics)


def _autologged(metrics: dict[str, float]) -> list[str]:
    return sorted(k for k in metrics if k.startswith("training_"))


@pytest.mark.slow
def test_off_switches_in_a_fresh_process(experiment: str, tmp_path: Path) -> None:
    # Started together: each interpreter pays MLflow's and scikit-learn's import time.
    procs = {
        "default": _fit_in_subprocess(tmp_path / "default", {}),
        "env off": _fit_in_subprocess(tmp_path / "env-off", {"MLTRACK_AUTOLOG": "false"}),
        "config off": _fit_in_subprocess(tmp_path / "config-off", {}, config="autolog: false\n"),
        "other framework only": _fit_in_subprocess(
            tmp_path / "xgboost-only", {"MLTRACK_AUTOLOG_FRAMEWORKS": "[xgboost]"}
        ),
    }
    results = {name: _metrics_of(proc) for name, proc in procs.items()}

    active, metrics = results["default"]
    assert active == ["sklearn"]
    assert "training_accuracy_score" in metrics, metrics
    for name in ("env off", "config off", "other framework only"):
        active, metrics = results[name]
        assert active == [], name
        assert _autologged(metrics) == [], name
        assert metrics["test_accuracy"] > 0.5, name  # the run itself is fully tracked


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return X, (X[:, 0] > 0).astype(int)


def _fit_in_run(name: str, autolog: bool | None) -> dict[str, float]:
    X, y = _data()

    @mltrack.track(name=name, autolog=autolog)
    def fit() -> None:
        LogisticRegression().fit(X, y)

    fit()
    return mltrack.get_last_run().metrics


def test_per_run_autolog_false_turns_off_what_an_earlier_run_enabled(experiment: str) -> None:
    from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS

    assert "training_accuracy_score" in _fit_in_run("first", autolog=None)
    assert "sklearn" in frameworks.active_autolog()
    config = AUTOLOGGING_INTEGRATIONS["sklearn"]

    assert _autologged(_fit_in_run("quiet", autolog=False)) == []
    assert "sklearn" in frameworks.active_autolog()  # back on once the run ended
    assert "training_accuracy_score" in _fit_in_run("again", autolog=None)

    # Enabled once: MLflow's sklearn autolog() was not called again (each call stores a
    # new config and re-patches scikit-learn).
    assert AUTOLOGGING_INTEGRATIONS["sklearn"] is config
    assert frameworks.enable_autolog() == frameworks.active_autolog()
    assert AUTOLOGGING_INTEGRATIONS["sklearn"] is config


def test_nested_runs_each_follow_their_own_autolog_setting(experiment: str) -> None:
    X, y = _data()
    frameworks.enable_autolog()  # as an earlier run in this process would have

    @mltrack.track
    def inner() -> None:
        LogisticRegression().fit(X, y)

    with mltrack.run("outer", autolog=False) as outer:
        assert "sklearn" not in frameworks.active_autolog()
        inner()  # autolog on by default: on for the nested run
        assert "sklearn" not in frameworks.active_autolog()
        LogisticRegression(C=0.5).fit(X, y)  # back in the outer run: off again
    client = MlflowClient()
    child = client.search_runs(
        [client.get_run(outer.id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{outer.id}'",
    )
    assert len(child) == 1 and "training_accuracy_score" in child[0].data.metrics
    assert _autologged(client.get_run(outer.id).data.metrics) == []
    assert "sklearn" in frameworks.active_autolog()


def test_autolog_frameworks_limits_a_run_to_the_listed_ones(
    experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frameworks.enable_autolog()
    monkeypatch.setenv("MLTRACK_AUTOLOG_FRAMEWORKS", "[xgboost]")
    assert _autologged(_fit_in_run("xgb-only", autolog=None)) == []
    monkeypatch.setenv("MLTRACK_AUTOLOG_FRAMEWORKS", "[sklearn]")
    assert "training_accuracy_score" in _fit_in_run("sk-only", autolog=None)


def test_unknown_framework_fails_before_a_run_starts(
    experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACK_AUTOLOG_FRAMEWORKS", "[scikit]")
    with (
        pytest.raises(ConfigError, match=r"unknown framework\(s\) \['scikit'\]"),
        mltrack.run("never"),
    ):
        pass
    assert MlflowClient().get_experiment_by_name(experiment) is None
    assert mlflow.active_run() is None


def test_lightgbm_is_detected_and_autologged(experiment: str) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = _data()
    with mltrack.run("lightgbm") as run:
        assert "lightgbm" in frameworks.detect_frameworks()
        assert "lightgbm" in frameworks.active_autolog()
        train_set = lgb.Dataset(X, y)
        lgb.train(
            {"objective": "binary", "num_leaves": 4, "verbose": -1, "seed": 0},
            train_set,
            num_boost_round=5,
            valid_sets=[lgb.Dataset(X, y, reference=train_set)],
            valid_names=["train"],
        )
    client = MlflowClient()
    recorded = client.get_run(run.id).data
    assert recorded.params["num_boost_round"] == "5", recorded.params
    assert recorded.params["num_leaves"] == "4", recorded.params
    history = client.get_metric_history(run.id, "train-binary_logloss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4], history
    artifacts = {a.path for a in client.list_artifacts(run.id)}
    assert "feature_importance_gain.json" in artifacts, artifacts


KERAS_ON_TF = textwrap.dedent(
    """
    import json
    import os

    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

    import keras
    import numpy as np
    import tensorflow

    import mltrack
    from mltrack.frameworks import active_autolog, detect_frameworks

    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = (X[:, 0] > 0).astype("float32")
    with mltrack.run("keras-on-tf") as run:
        model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(X, y, epochs=3, verbose=0)
        seen = {"run_id": run.id, "active": active_autolog(), "detected": detect_frameworks(),
                "backend": keras.backend.backend()}
    print(json.dumps(seen))
    """
)


def _last_json_line(cwd: Path, script: str, *args: str) -> dict:
    """Run ``script`` in a fresh interpreter (no MLTRACK_AUTOLOG* settings); the JSON it
    printed last."""
    (cwd / "fit.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_AUTOLOG")}
    proc = subprocess.run(
        [sys.executable, "fit.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_keras_on_tensorflow_logs_each_epoch_once(experiment: str, tmp_path: Path) -> None:
    # A fresh interpreter: Keras picks its backend once per process, at import.
    missing = [n for n in ("tensorflow", "keras") if importlib.util.find_spec(n) is None]
    if missing:
        pytest.skip(f"{missing} not installed (the tensorflow and keras extras)")
    seen = _last_json_line(tmp_path, KERAS_ON_TF)
    assert seen["backend"] == "tensorflow"
    assert {"keras", "tensorflow"} <= set(seen["detected"]), seen
    # Keras 3 and TensorFlow both imported: only MLflow's Keras autologging is on.
    assert "keras" in seen["active"] and "tensorflow" not in seen["active"], seen
    client = MlflowClient()
    history = client.get_metric_history(seen["run_id"], "loss")
    assert [m.step for m in history] == [0, 1, 2], "one loss per epoch, not two"
    assert client.get_run(seen["run_id"]).data.params["epochs"] == "3"


INCIDENTAL = textwrap.dedent(
    """
    import json
    import sys

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import mltrack
    from mltrack import frameworks

    if sys.argv[1] == "preloaded":
        frameworks.preload()  # what the docs engine's warm pool does before forking
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    seen = {"torch imported": "torch" in sys.modules}


    @mltrack.track
    def fit(C: float = 1.0) -> None:
        LogisticRegression(C=C).fit(X, y)


    fit(1.0)
    fit(2.0)  # after the first run's scikit-learn autolog walked scikit-learn
    seen["torch imported after"] = "torch" in sys.modules
    seen["sklearn shim for torch"] = "sklearn.externals.array_api_compat.torch" in sys.modules
    seen["detected"] = frameworks.detect_frameworks()
    seen["active"] = frameworks.active_autolog()
    import torch  # now the program uses it

    seen["detected with import"] = frameworks.detect_frameworks()
    print(json.dumps(seen))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("process", ["fresh", "preloaded"])
def test_torch_imported_by_sklearn_autolog_is_not_taken_for_the_users(
    experiment: str, tmp_path: Path, process: str
) -> None:
    """MLflow's scikit-learn autolog walks every scikit-learn module, and scikit-learn's
    array-API shim would import torch: mltrack keeps it out, so a scikit-learn user's
    second run does not turn on PyTorch autologging, and a preloaded process (the docs
    engine's pool) holds no torch either. The program's own import still counts."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch not installed (make install adds the CPU wheel)")
    seen = _last_json_line(tmp_path, INCIDENTAL, process)
    assert seen["torch imported"] is False
    assert seen["torch imported after"] is False
    assert seen["sklearn shim for torch"] is False  # the walk skipped it
    assert seen["detected"] == ["sklearn"]
    assert seen["active"] == ["sklearn"]
    assert seen["detected with import"] == ["sklearn", "torch"]
