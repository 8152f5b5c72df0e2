"""Framework detection: turn on MLflow autologging for the ML libraries in use.

A framework counts as "in use" when the user's code has imported it (it is in
``sys.modules``); mltrack never imports a framework itself. Each framework's
``mlflow.<flavor>.autolog()`` is enabled at most once per process.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from collections.abc import Iterable

__all__ = ["FRAMEWORKS", "detect_frameworks", "enable_autolog"]

_log = logging.getLogger("mltrack")

#: import name of the framework -> MLflow flavor module with ``autolog()``
FRAMEWORKS: dict[str, str] = {
    "sklearn": "mlflow.sklearn",
    "torch": "mlflow.pytorch",
    "keras": "mlflow.keras",
    "tensorflow": "mlflow.tensorflow",
    "xgboost": "mlflow.xgboost",
    "lightgbm": "mlflow.lightgbm",
    "transformers": "mlflow.transformers",
}

_enabled: set[str] = set()


def keras3_imported() -> bool:
    """Whether the imported ``keras`` is Keras 3 (``mlflow.keras`` supports only that)."""
    major = str(getattr(sys.modules.get("keras"), "__version__", "0")).split(".", 1)[0]
    return major.isdigit() and int(major) >= 3


def detect_frameworks() -> list[str]:
    """Frameworks the running program has imported, in :data:`FRAMEWORKS` order."""
    return [name for name in FRAMEWORKS if name in sys.modules]


def enable_autolog(only: Iterable[str] | None = None, log_models: bool = False) -> list[str]:
    """Enable MLflow autologging for detected frameworks not enabled yet.

    Args:
        only: restrict to these framework names (``Settings.autolog_frameworks``).
        log_models: also log a model artifact at every fit (``Settings.autolog_log_models``).

    Returns:
        The frameworks for which autologging is on after the call.
    """
    wanted = set(only) if only is not None else None
    unknown = (wanted or set()) - set(FRAMEWORKS)
    if unknown:
        from mltrack.errors import ConfigError

        raise ConfigError(
            f"autolog_frameworks: unknown framework(s) {sorted(unknown)}; "
            f"choose from {sorted(FRAMEWORKS)}"
        )
    detected = detect_frameworks()
    keras3 = keras3_imported()
    # TensorFlow >= 2.16 trains through Keras 3: both autologgers would patch the same
    # `Model.fit` and log every epoch twice; MLflow's Keras one is the one meant for it.
    keras_covers_tf = "keras" in detected and keras3 and (wanted is None or "keras" in wanted)
    for name in detected:
        if name in _enabled or (wanted is not None and name not in wanted):
            continue
        if name == "keras" and not keras3:
            continue  # Keras 2 is tf.keras: MLflow's TensorFlow autologging covers it
        if name == "tensorflow" and keras_covers_tf:
            continue
        if name == "sklearn":
            # MLflow 3.17's sklearn autolog still passes `y_pred` to metrics that scikit-learn
            # 1.9 renamed; the warning is upstream noise on every fit, not the user's concern.
            warnings.filterwarnings(
                "ignore", message=r"`y_pred` was renamed", category=FutureWarning
            )
        try:
            flavor = importlib.import_module(FRAMEWORKS[name])
            flavor.autolog(silent=True, log_models=log_models)
        except Exception as exc:  # an autolog failure must never stop training
            _log.warning("mltrack: could not enable %s autologging: %s", name, exc)
            continue
        _enabled.add(name)
    return sorted(_enabled)
