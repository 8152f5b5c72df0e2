"""Framework detection: turn on MLflow autologging for the ML libraries in use.

A framework counts as "in use" when the user's code has imported it (it is in
``sys.modules``); mltrack never imports a framework itself. Each framework's
``mlflow.<flavor>.autolog()`` is called at most once per process (patching a library is
slow: seconds for scikit-learn).

MLflow's autologging is process-wide, but the ``autolog`` setting is per run: every run
opened by ``@track`` or ``mltrack.run()`` holds an :func:`autolog_scope`. While a run is
the innermost one open, only the frameworks its settings allow log (``autolog=False``, on
the run or in the config, switches off autologging that an earlier run turned on;
``autolog_frameworks`` keeps only the listed ones); when it ends, the state before it is
back. Switching off and on is instant: it flips the ``disable`` flag that MLflow's patches
read at every call, so the libraries are not patched again. Only the frameworks mltrack
enabled are switched; other MLflow autologging (e.g. ``mlflow.openai``) is left alone.
Concurrent runs in several threads share the process's autologging: the run opened last
decides.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import logging
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "FRAMEWORKS",
    "active_autolog",
    "detect_frameworks",
]

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

_enabled: set[str] = set()  # frameworks whose autolog() mltrack has called (patched)
_off: set[str] = set()  # of those, the ones an open run has switched off
_log_models: dict[str, bool] = {}  # log_models each framework was enabled with
_lock = threading.RLock()


@dataclass(eq=False)
class _Scope:
    """The autolog policy of one open run."""

    enabled: bool
    only: frozenset[str] | None

    def wants(self, name: str) -> bool:
        return self.enabled and (self.only is None or name in self.only)


_scopes: list[_Scope] = []  # open runs, innermost last


def keras3_imported() -> bool:
    """Whether the imported ``keras`` is Keras 3 (``mlflow.keras`` supports only that)."""
    major = str(getattr(sys.modules.get("keras"), "__version__", "0")).split(".", 1)[0]
    return major.isdigit() and int(major) >= 3


class _NoFrameworkImports(importlib.abc.MetaPathFinder):
    """Refuses, in one thread, the first import of a framework (see
    :func:`no_framework_imports`)."""

    def __init__(self, thread: int, names: frozenset[str]):
        self.thread, self.names = thread, names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if threading.get_ident() == self.thread and fullname.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is not imported by a library's scan")
        return None


@contextlib.contextmanager
def no_framework_imports() -> Iterator[None]:
    """Keep a library's package walk from importing frameworks the program has not.

    MLflow's scikit-learn autolog and skops walk every scikit-learn module, and
    scikit-learn's array-API shim imports torch when it is installed: seconds, and torch
    would then look imported by the program (:func:`detect_frameworks`), turning on
    PyTorch autologging for a scikit-learn user's next run. Inside the block, in this
    thread only, importing a framework that is not imported yet raises
    ``ModuleNotFoundError``, which the walks skip.
    """
    names = frozenset(name for name in FRAMEWORKS if name not in sys.modules)
    finder = _NoFrameworkImports(threading.get_ident(), names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


def detect_frameworks() -> list[str]:
    """Frameworks the running program has imported, in :data:`FRAMEWORKS` order."""
    return [name for name in FRAMEWORKS if name in sys.modules]


def preload() -> None:
    """Do the slow first-use work of MLflow's scikit-learn support in this process now.

    For a process that forks workers (a pre-forking server such as gunicorn with
    ``--preload``, a job runner), so that each child does not pay it again: scikit-learn's estimator scan (MLflow's
    autolog and skops walk every scikit-learn module: seconds), skops' import (MLflow
    saves scikit-learn models with it), ``mlflow.pyfunc`` (a model save checks its input
    example through it) and MLflow's map of installed packages (read at every model save
    and load: seconds). No framework is imported on the way
    (:func:`no_framework_imports`). Each step is skipped when its library is missing.
    """
    with no_framework_imports(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in (_scan_sklearn, _import_skops, _import_pyfunc, _map_installed_packages):
            with contextlib.suppress(Exception):
                step()


def import_skops() -> None:
    """Import skops (MLflow's format for scikit-learn models) without a framework.

    Call it before loading a scikit-learn model in a fresh process: skops' import walks
    every scikit-learn module, which imports torch when installed (seconds, hundreds of
    MB) that the model does not need. The model's own load still imports whatever its
    estimators use. A no-op once skops is imported or when it is missing.
    """
    if "skops.io" in sys.modules:
        return
    try:
        importlib.import_module("sklearn")  # the model needs it: not one to keep out
    except ImportError:
        return
    with no_framework_imports(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(Exception):
            _import_skops()


def _scan_sklearn() -> None:
    from sklearn.utils import all_estimators

    all_estimators()


def _import_skops() -> None:
    importlib.import_module("skops.io")


def _import_pyfunc() -> None:
    importlib.import_module("mlflow.pyfunc")


def _map_installed_packages() -> None:
    from mlflow.utils import requirements_utils

    requirements_utils._init_modules_to_packages_map()


def _check_names(only: Iterable[str] | None) -> set[str] | None:
    wanted = set(only) if only is not None else None
    unknown = (wanted or set()) - set(FRAMEWORKS)
    if unknown:
        from mltrack.errors import ConfigError

        raise ConfigError(
            f"autolog_frameworks: unknown framework(s) {sorted(unknown)}; "
            f"choose from {sorted(FRAMEWORKS)}"
        )
    return wanted


def active_autolog() -> list[str]:
    """Frameworks whose autologging mltrack has turned on and no open run switched off."""
    with _lock:
        return sorted(_enabled - _off)


def enable_autolog(only: Iterable[str] | None = None, log_models: bool = False) -> list[str]:
    """Enable MLflow autologging for detected frameworks not enabled yet.

    A framework already enabled is not enabled again (its ``autolog()`` is not called a
    second time), whatever ``log_models`` says.

    Args:
        only: restrict to these framework names (``Settings.autolog_frameworks``).
        log_models: also log a model artifact at every fit (``Settings.autolog_log_models``).

    Returns:
        The frameworks for which autologging is on after the call (see
        :func:`active_autolog`).

    Raises:
        ConfigError: ``only`` names a framework mltrack does not know.
    """
    wanted = _check_names(only)
    with _lock:
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
                # MLflow 3.17's sklearn autolog still passes `y_pred` to metrics that
                # scikit-learn 1.9 renamed; the warning is upstream noise on every fit.
                warnings.filterwarnings(
                    "ignore", message=r"`y_pred` was renamed", category=FutureWarning
                )
            try:
                flavor = importlib.import_module(FRAMEWORKS[name])
                # scikit-learn's autolog walks its package, which would import torch.
                with no_framework_imports() if name == "sklearn" else contextlib.nullcontext():
                    flavor.autolog(silent=True, log_models=log_models)
            except Exception as exc:  # an autolog failure must never stop training
                _log.warning("mltrack: could not enable %s autologging: %s", name, exc)
                continue
            _enabled.add(name)
            _log_models[name] = log_models
        return sorted(_enabled - _off)


def _mlflow_config(flavor: ModuleType) -> dict[str, Any] | None:
    """MLflow's stored ``autolog()`` arguments of a flavor (its patches read ``disable``)."""
    try:
        from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS
    except ImportError:  # pragma: no cover - MLflow moved it: use the public API instead
        return None
    config = AUTOLOGGING_INTEGRATIONS.get(getattr(flavor.autolog, "integration_name", ""))
    return config if isinstance(config, dict) and "disable" in config else None


def _switch(name: str, on: bool) -> None:
    """Turn an enabled framework's autologging on or off without patching it again."""
    try:
        flavor = importlib.import_module(FRAMEWORKS[name])
        config = _mlflow_config(flavor)
        if config is not None:
            config["disable"] = not on
        elif on:  # pragma: no cover - fallback for another MLflow layout: re-patches
            flavor.autolog(silent=True, log_models=_log_models.get(name, False))
        else:  # pragma: no cover
            flavor.autolog(disable=True, silent=True)
    except Exception as exc:  # never stop training over autologging
        _log.warning("mltrack: could not switch %s autologging %s: %s", name, on, exc)
        return
    if on:
        _off.discard(name)
    else:
        _off.add(name)


def _apply() -> None:
    """Make every enabled framework follow the innermost open run (all on when none)."""
    scope = _scopes[-1] if _scopes else None
    for name in sorted(_enabled):
        on = scope is None or scope.wants(name)
        if on != (name not in _off):
            _switch(name, on)


@contextlib.contextmanager
def autolog_scope(
    enabled: bool, only: Iterable[str] | None = None, log_models: bool = False
) -> Iterator[list[str]]:
    """Autologging policy for the duration of one run.

    ``enabled`` turns on detected frameworks (see :func:`enable_autolog`) and switches off
    enabled ones that ``only`` leaves out; ``enabled=False`` switches off every framework
    mltrack enabled. On exit the policy of the enclosing run, or "all on" outside runs,
    applies again.

    Yields:
        The frameworks whose autologging is on inside the scope.

    Raises:
        ConfigError: ``only`` names a framework mltrack does not know.
    """
    scope = _Scope(enabled, frozenset(only) if only is not None and enabled else None)
    with _lock:
        if enabled:
            enable_autolog(only, log_models)
        _scopes.append(scope)
        _apply()
        active = sorted(_enabled - _off)
    try:
        yield active
    finally:
        with _lock:
            # Runs in other threads may end out of order: remove this one, wherever it is.
            for index in range(len(_scopes) - 1, -1, -1):
                if _scopes[index] is scope:
                    del _scopes[index]
                    break
            _apply()
