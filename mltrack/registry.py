"""Model registry workflow: save a model, list versions, move ``champion``/``challenger``.

MLflow 3 stores a model as a *logged model* (``models:/m-<id>``) attached to the run that
produced it, and the registry gives it a name and a version number
(``models:/NAME/VERSION``). mltrack adds three things on top:

* :func:`save` picks the MLflow flavor from the object (scikit-learn, PyTorch, Keras 3, XGBoost,
  Transformers, ``mlflow.pyfunc.PythonModel``), infers the signature and an input example,
  logs the model into a run and registers a new version, in one call;
* :func:`promote` moves a registry *alias* (``champion``, ``challenger``; MLflow's stages
  are deprecated) and records who, when and why as tags of the version;
* :func:`list_versions` shows each version with the metrics of its run and its aliases,
  fetching all runs in one search instead of one request per version.

Examples:
    >>> info = mltrack.save(model, name="iris-classifier", input_example=X[:5])
    >>> mltrack.promote("iris-classifier", info.version, to="champion", reason="best F1")
"""

from __future__ import annotations

import dataclasses
import difflib
import getpass
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mltrack.artifact_reads import no_download_bar
from mltrack.config import load_settings
from mltrack.errors import (
    MltrackError,
    ModelNotFoundError,
    RunNotFoundError,
    TrackingServerError,
    UnsupportedModelError,
)
from mltrack.frameworks import keras3_imported, no_framework_imports
from mltrack.mlflow_errors import Failure, classify, mlflow_errors
from mltrack.uris import redact_uri

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ModelVersionInfo",
    "RegisteredModelSummary",
    "ResolvedModel",
    "client",
    "describe_model_class",
    "detect_flavor",
    "get_version",
    "list_models",
    "list_versions",
    "promote",
    "register",
    "resolve_model",
    "save",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_PREFIX = "mltrack."
_RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,254}$")
#: MLflow reserves these alias forms (``latest`` and ``v<number>``).
_RESERVED_ALIAS_RE = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


# --------------------------------------------------------------------------- connection


def client() -> MlflowClient:
    """Return an ``MlflowClient`` pointed at the tracking URI mltrack resolves.

    The URI set in-process with ``mlflow.set_tracking_uri`` wins; otherwise the settings
    decide (``MLFLOW_TRACKING_URI``, ``tracking_uri`` in ``.mltrack.yml``, else the
    project's local sqlite store under ``.mltrack/``).
    """
    import mlflow

    from mltrack.store import tracking_store

    tracking_store()
    return mlflow.MlflowClient()


def _missing(exc: BaseException) -> bool:
    """MLflow's answer for a name, version or alias that does not exist (or is malformed)."""
    return classify(exc) in (Failure.NOT_FOUND, Failure.INVALID)


def experiment_name(explicit: str | None = None) -> str:
    """The experiment to use, the first one set of these.

    ``explicit``; ``experiment`` in the settings (``.mltrack.yml`` or
    ``MLTRACK_EXPERIMENT``); ``MLFLOW_EXPERIMENT_NAME``; the experiment this process chose
    with ``mlflow.set_experiment()``; else ``"Default"``.
    """
    if explicit:
        return explicit
    configured = load_settings().experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if configured:
        return configured
    # An experiment chosen in-process with mlflow.set_experiment().
    from mlflow.tracking import fluent

    active_id = getattr(fluent, "_active_experiment_id", None)
    if active_id:
        experiment = client().get_experiment(active_id)
        if experiment is not None:
            return str(experiment.name)
    return "Default"


def current_user() -> str:
    """The user name recorded in promotion tags."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _ts(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version, with the metrics of the run that produced it.

    ``str(info)`` is the registry URI, ``models:/NAME/VERSION``.
    """

    name: str
    version: str
    uri: str
    run_id: str | None
    model_id: str | None
    source: str
    flavor: str | None = None
    aliases: tuple[str, ...] = ()
    created_at: datetime | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True)
class RegisteredModelSummary:
    """A registered model: its latest version and where its aliases point."""

    name: str
    latest_version: str | None
    aliases: dict[str, str]
    updated_at: datetime | None
    description: str | None


@dataclass(frozen=True)
class ResolvedModel:
    """What a run id or model URI points to (see :func:`resolve_model`).

    ``alias`` is the alias the reference went through (``NAME@alias``, or ``champion``
    for a bare ``NAME``); ``aliases`` are all the aliases the version holds.
    """

    uri: str
    run_id: str | None
    model_id: str | None = None
    name: str | None = None
    version: str | None = None
    aliases: tuple[str, ...] = ()
    version_tags: dict[str, str] = field(default_factory=dict)
    alias: str | None = None

    @property
    def registry_uri(self) -> str | None:
        """``models:/NAME/VERSION`` when the model is registered."""
        return f"models:/{self.name}/{self.version}" if self.name and self.version else None


# --------------------------------------------------------------------------- flavors


def _mro_modules(model: Any) -> list[str]:
    return [getattr(klass, "__module__", "") or "" for klass in type(model).__mro__]


def detect_flavor(model: Any) -> str:
    """Return the MLflow flavor that can log ``model``.

    Detection looks at the classes of the object and never imports a framework that the
    caller has not imported already.

    Returns:
        One of ``"sklearn"``, ``"pytorch"``, ``"keras"`` (Keras 3, any backend),
        ``"xgboost"``, ``"transformers"``, ``"pyfunc"``.

    Raises:
        UnsupportedModelError: no flavor fits; wrap the model in a ``PythonModel``.
    """
    modules = _mro_modules(model)
    roots = {m.split(".", 1)[0] for m in modules}
    # xgboost's sklearn wrappers subclass sklearn estimators: check it first.
    if "xgboost" in roots and "xgboost" in sys.modules:
        return "xgboost"
    if "transformers" in roots and "transformers" in sys.modules:
        return "transformers"
    # Keras 3 models on the torch backend are also torch modules: check Keras before torch.
    if "keras" in roots and "keras" in sys.modules:
        import keras

        if isinstance(model, keras.Model) and keras3_imported():
            return "keras"
    if "torch" in roots and "torch" in sys.modules:
        import torch

        if isinstance(model, torch.nn.Module):
            return "pytorch"
    if "sklearn" in roots:
        return "sklearn"
    import mlflow.pyfunc

    if isinstance(model, mlflow.pyfunc.PythonModel):
        return "pyfunc"
    raise UnsupportedModelError(
        f"cannot save a {type(model).__module__}.{type(model).__qualname__}: no MLflow flavor "
        "fits it; wrap it in an mlflow.pyfunc.PythonModel subclass (scikit-learn, PyTorch, "
        "Keras 3, XGBoost and Transformers models are detected automatically)"
    )


def describe_model_class(model: Any) -> str:
    """Class name of a model; pipelines list their steps (``Pipeline(StandardScaler → SVC)``)."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and all(isinstance(s, tuple) for s in steps):
        inner = " → ".join(type(step[1]).__name__ for step in steps)
        return f"{type(model).__name__}({inner})"
    return type(model).__name__


def _synthetic_example(model: Any) -> Any | None:
    """A one-row all-zero input for an estimator that knows its input width, else None."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        return pd.DataFrame([[0.0] * len(names)], columns=[str(n) for n in names])
    width = getattr(model, "n_features_in_", None)
    if isinstance(width, int) and width > 0:
        import numpy as np

        return np.zeros((1, width))
    return None


def _head(example: Any, rows: int = 5) -> Any:
    """At most ``rows`` rows of an input example (the stored example stays small)."""
    if hasattr(example, "iloc"):
        return example.iloc[:rows]
    if hasattr(example, "shape") and len(getattr(example, "shape", ())) >= 1:
        return example[:rows]
    if isinstance(example, list):
        return example[:rows]
    return example


def _sklearn_kwargs(model: Any, input_example: Any) -> dict[str, Any]:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    kwargs: dict[str, Any] = {}
    if input_example is not None and hasattr(model, "predict"):
        with warnings.catch_warnings():
            # MLflow hints that integer class labels cannot hold missing values: expected.
            warnings.simplefilter("ignore", UserWarning)
            kwargs["signature"] = infer_signature(input_example, model.predict(input_example))
    try:
        with no_framework_imports():  # skops walks scikit-learn (and would import torch)
            import skops.io

        # The caller built this object in-process, so its own types are trusted; the
        # list is stored in the MLmodel file and checked again when the model loads.
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        kwargs["serialization_format"] = "skops"
        kwargs["skops_trusted_types"] = trusted
        kwargs["pip_requirements"] = mlflow.sklearn.get_default_pip_requirements(
            include_cloudpickle=False, include_skops=True
        )
    except Exception:
        # skops cannot serialize some custom objects (lambdas, local classes).
        kwargs["serialization_format"] = "cloudpickle"
        kwargs["pip_requirements"] = mlflow.sklearn.get_default_pip_requirements(
            include_cloudpickle=True
        )
    return kwargs


def _log_model(
    model: Any,
    flavor: str,
    artifact_name: str,
    input_example: Any,
    signature: Any,
    pip_requirements: list[str] | None,
) -> Any:
    """Log ``model`` into the active run with its flavor; return MLflow's ``ModelInfo``."""
    import mlflow

    kwargs: dict[str, Any] = {"name": artifact_name, "input_example": input_example}
    if flavor == "sklearn":
        import mlflow.sklearn

        kwargs.update(_sklearn_kwargs(model, input_example))
        logger = mlflow.sklearn.log_model
    elif flavor == "pyfunc":
        import mlflow.pyfunc

        kwargs["python_model"] = model
        kwargs["pip_requirements"] = mlflow.pyfunc.get_default_pip_requirements()
        return _with_overrides(mlflow.pyfunc.log_model, kwargs, signature, pip_requirements)
    elif flavor == "pytorch":
        import mlflow.pytorch

        kwargs["pip_requirements"] = _pinned(mlflow.pytorch.get_default_pip_requirements)
        logger = mlflow.pytorch.log_model
    elif flavor == "keras":
        import keras
        import mlflow.keras
        from mlflow.utils.requirements_utils import _get_pinned_requirement

        if input_example is not None:
            # MLflow 3.17's keras flavor writes the example before creating the model folder
            # (FileNotFoundError): keep the signature the example gives, drop the example.
            if signature is None:
                from mlflow.models import infer_signature

                signature = infer_signature(input_example, model.predict(input_example, verbose=0))
            kwargs.pop("input_example")
        backend = keras.backend.backend()
        # The flavor pins only keras; the backend is needed as well to load the model.
        extra = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}.get(backend)
        kwargs["pip_requirements"] = _pinned(
            lambda: [
                *mlflow.keras.get_default_pip_requirements(),
                *([_get_pinned_requirement(extra)] if extra else []),
            ]
        )
        logger = mlflow.keras.log_model
    elif flavor == "xgboost":
        import mlflow.xgboost

        kwargs["pip_requirements"] = _pinned(mlflow.xgboost.get_default_pip_requirements)
        logger = mlflow.xgboost.log_model
    else:
        import mlflow.transformers

        kwargs["transformers_model"] = model
        kwargs["pip_requirements"] = _pinned(lambda: _transformers_requirements(model))
        return _with_overrides(mlflow.transformers.log_model, kwargs, signature, pip_requirements)
    return _with_overrides(lambda **kw: logger(model, **kw), kwargs, signature, pip_requirements)


def _transformers_requirements(model: Any) -> list[str]:
    """Pinned requirements of a Transformers pipeline or model: the library and its engine.

    MLflow 3.17's own defaults add ``torchvision`` whenever the engine is PyTorch and fail
    when it is not installed; here optional companions are pinned only when present.
    """
    import importlib.util

    from mlflow.utils.requirements_utils import _get_pinned_requirement

    inner = model.get("model") if isinstance(model, dict) else getattr(model, "model", model)
    packages = ["transformers"]
    if "torch" in sys.modules and isinstance(inner, sys.modules["torch"].nn.Module):
        packages.append("torch")
        packages += [p for p in ("torchvision", "accelerate") if importlib.util.find_spec(p)]
    elif "tensorflow" in sys.modules:
        packages.append("tensorflow")
    return [_get_pinned_requirement(package) for package in packages]


def _pinned(requirements: Any) -> list[str]:
    """The flavor's pinned default requirements, instead of MLflow's inference.

    Without ``pip_requirements`` MLflow infers them by loading the saved model in a fresh
    subprocess (about 25 s for a small PyTorch module on 2 cores). The flavor defaults pin
    the framework installed here; a local version label (``torch==2.13.0+cpu``) is dropped
    so the requirement installs from PyPI, which MLflow would announce on every save.
    """
    with _quiet_logger("mlflow.utils.requirements_utils", logging.ERROR):
        return list(requirements())


@contextmanager
def _quiet_logger(
    name: str, level: int | None = None, drop: Callable[[logging.LogRecord], bool] | None = None
) -> Iterator[None]:
    """Raise logger ``name`` to ``level`` and filter its records with ``drop``, for the duration."""
    logger = logging.getLogger(name)
    previous = logger.level
    if level is not None:
        logger.setLevel(level)
    if drop is not None:
        logger.addFilter(drop)
    try:
        yield
    finally:
        logger.setLevel(previous)
        if drop is not None:
            logger.removeFilter(drop)


def _not_pip_version_warning(record: logging.LogRecord) -> bool:
    # A uv environment has no pip; MLflow then warns on every save that conda.yaml lists
    # pip unpinned, which changes nothing for the saved model.
    return not record.getMessage().startswith("Failed to resolve installed pip version")


def _with_overrides(
    logger: Any, kwargs: dict[str, Any], signature: Any, pip_requirements: list[str] | None
) -> Any:
    if signature is not None:
        kwargs["signature"] = signature
    if pip_requirements is not None:
        kwargs["pip_requirements"] = pip_requirements
    with warnings.catch_warnings():
        # MLflow hints that integer class labels cannot hold missing values: expected.
        warnings.filterwarnings("ignore", message=r"Hint: Inferred schema contains integer")
        return logger(**kwargs)


def run_id_of(run: Any) -> str | None:
    """The run id of a string, an mltrack ``RunInfo``/``RunHandle`` or an MLflow ``Run``."""
    if run is None or isinstance(run, str):
        return run
    for candidate in (
        getattr(run, "run_id", None),
        getattr(getattr(run, "info", None), "run_id", None),
        getattr(run, "id", None),
    ):
        if isinstance(candidate, str):
            return candidate
    raise MltrackError(
        f"cannot find a run id in a {type(run).__name__}; pass the run id string, an "
        "mltrack RunInfo or an MLflow Run"
    )


@contextmanager
def _in_run(run: Any, experiment: str | None, default_name: str) -> Iterator[str]:
    """Yield a run id to log into: the given run, the active run, or a new one.

    A finished run that is reopened gets its original status and end time back, so the
    run's duration is not changed by saving a model into it later.
    """
    import mlflow

    run_id = run_id_of(run)
    active = mlflow.active_run()
    if run_id is None and active is not None:
        yield active.info.run_id
        return
    mlflow_client = client()
    if run_id is None:
        from mltrack.tracking import run as tracked_run

        # A tracked run records git and system tags, which the model card shows.
        with tracked_run(default_name, experiment=experiment, autolog=False) as handle:
            if handle.offline:
                raise TrackingServerError(
                    f"cannot save a model while {redact_uri(handle.tracking_uri)} is "
                    "unreachable; start the server (or check MLFLOW_TRACKING_URI) and run "
                    "`ml doctor`"
                )
            yield handle.id
        return
    if active is not None and active.info.run_id == run_id:
        yield run_id
        return
    previous = _get_run(mlflow_client, run_id)
    with mlflow.start_run(run_id=run_id, nested=active is not None):
        yield run_id
    if previous.info.end_time:
        mlflow_client.set_terminated(run_id, previous.info.status, previous.info.end_time)


def _get_run(mlflow_client: MlflowClient, run_id: str) -> Run:
    def missing() -> MltrackError:
        return RunNotFoundError(
            f"no run with id '{run_id}'; list runs with `ml runs` (ids are 32 hex characters)"
        )

    with mlflow_errors(f"read run {run_id}", not_found=missing, invalid_is_not_found=True):
        return mlflow_client.get_run(run_id)


# --------------------------------------------------------------------------- save / register


def save(
    model: Any,
    name: str,
    run: Any = None,
    input_example: Any = None,
    *,
    signature: Any = None,
    pip_requirements: list[str] | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    experiment: str | None = None,
    artifact_name: str = "model",
    quiet: bool = False,
) -> ModelVersionInfo:
    """Log ``model`` with the right MLflow flavor and register it as a new version of ``name``.

    Args:
        model: a fitted model object (scikit-learn estimator or pipeline, PyTorch module, Keras 3 model,
            XGBoost or Transformers model, ``mlflow.pyfunc.PythonModel``), or the URI of a
            model already logged (``models:/m-...``, ``runs:/RUN_ID/model``) to register as is.
        name: registered model name; created on first use.
        run: run to log into (id, ``mlflow`` run or mltrack ``RunInfo``); default: the active
            run, else a new run named ``save-NAME`` in the configured experiment.
        input_example: a few rows of model input; stored with the model and used to infer
            the signature. For scikit-learn estimators that know their input width, a one-row
            all-zero example is made when none is given.
        signature: an explicit ``ModelSignature`` (default: inferred from the example).
        pip_requirements: the model's requirements (default: the flavor's pinned defaults).
        description: text stored on the new version.
        tags: extra tags for the new version.
        experiment: experiment for a new run (default: the configured one).
        artifact_name: name of the logged model inside the run.
        quiet: do not print the registered URI.

    Returns:
        The new version; ``str()`` of it is ``models:/NAME/VERSION``.

    Raises:
        UnsupportedModelError: no flavor fits the object.
        RunNotFoundError: ``run`` names a run that does not exist.
        TrackingServerError: the tracking server cannot be reached.
    """
    _check_name(name)
    if isinstance(model, str):
        return register(model, name, description=description, tags=tags, quiet=quiet)
    flavor = detect_flavor(model)
    synthetic = False
    if input_example is None and flavor == "sklearn":
        input_example = _synthetic_example(model)
        synthetic = input_example is not None
    elif input_example is not None:
        input_example = _head(input_example)
    client()
    import mlflow

    with (
        mlflow_errors(f"save model '{name}'"),
        _in_run(run, experiment, f"save-{name}"),
        _quiet_logger("mlflow.utils.environment", drop=_not_pip_version_warning),
    ):
        info = _log_model(model, flavor, artifact_name, input_example, signature, pip_requirements)
        mlflow.set_tag(f"{TAG_PREFIX}model_class", describe_model_class(model))
    version_tags = {f"{TAG_PREFIX}flavor": flavor, f"{TAG_PREFIX}saved_by": current_user()}
    if synthetic:
        version_tags[f"{TAG_PREFIX}input_example"] = "synthetic (zeros)"
    version_tags.update(tags or {})
    return register(info.model_uri, name, description=description, tags=version_tags, quiet=quiet)


def _check_name(name: str) -> None:
    if not name or not name.strip() or "/" in name or "@" in name or ":" in name:
        raise MltrackError(
            f"invalid model name {name!r}: use letters, digits, '-', '_' or '.', "
            "without '/', '@' or ':' (e.g. iris-classifier)"
        )


def register(
    model_uri: str,
    name: str,
    *,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    quiet: bool = False,
) -> ModelVersionInfo:
    """Register an already logged model (``models:/m-...`` or ``runs:/ID/path``) under ``name``.

    Raises:
        ModelNotFoundError: the URI does not point at a logged model.
    """
    import mlflow

    _check_name(name)
    mlflow_client = client()
    tags = dict(tags or {})
    if f"{TAG_PREFIX}flavor" not in tags:
        flavor = _flavor_of(model_uri)
        if flavor:
            tags[f"{TAG_PREFIX}flavor"] = flavor
    # MLflow prints two INFO lines per registration; mltrack prints one.
    # MLflow prints two INFO lines per registration; mltrack prints one.
    with (
        _quiet_logger("mlflow.store.model_registry.abstract_store", logging.WARNING),
        mlflow_errors(
            f"register '{name}'",
            not_found=lambda: ModelNotFoundError(
                f"no logged model at '{model_uri}'; log one with mltrack.save(model, "
                "name=...) or pass a run that logged a model"
            ),
        ),
    ):
        # MLflow also prints progress lines to stderr; mltrack prints one line.
        with redirect_stderr(io.StringIO()):
            mv = mlflow.register_model(model_uri, name, tags=tags)
        if description:
            mlflow_client.update_model_version(name, mv.version, description=description)
    info = _version_info(mv, _runs_by_id(mlflow_client, [mv.run_id] if mv.run_id else []))
    if not quiet:
        print(f"Registered {info.uri} ({info.flavor or 'model'}, run {info.run_id})")
    return info


def _flavor_of(model_uri: str) -> str | None:
    """The main flavor recorded in a logged model's MLmodel file (None when unreadable)."""
    import tempfile

    import mlflow.artifacts
    from mlflow.models import Model

    # Not get_model_info(): it downloads the MLmodel file into a temp dir it never removes.
    try:
        location = model_uri
        logged = re.fullmatch(r"models:/(m-[0-9a-f]+)", model_uri)
        if logged:  # a logged model's files are where the tracking server says
            location = client().get_logged_model(logged.group(1)).artifact_location
        with tempfile.TemporaryDirectory(prefix="mltrack-mlmodel-") as tmp:
            with no_download_bar():
                local = mlflow.artifacts.download_artifacts(f"{location}/MLmodel", dst_path=tmp)
            flavors = Model.load(local).flavors
    except Exception:  # registration reports a missing model with a clearer message
        return None
    named = [f for f in flavors if f != "python_function"]
    return named[0] if named else ("pyfunc" if flavors else None)


def logged_model_of_run(run_id: str) -> str:
    """URI of the model a run logged (the most recent one when it logged several).

    Raises:
        RunNotFoundError: no such run.
        ModelNotFoundError: the run logged no model.
    """
    mlflow_client = client()
    run = _get_run(mlflow_client, run_id)
    with mlflow_errors(f"search the models of run {run_id}"):
        models = mlflow_client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}'",
            order_by=[{"field_name": "creation_timestamp", "ascending": False}],
            max_results=1,
        )
        if models:
            return str(models[0].model_uri)
        # Models logged by MLflow 2 live under the run's artifacts.
        for item in mlflow_client.list_artifacts(run_id):
            if item.is_dir and any(
                a.path.endswith("MLmodel") for a in mlflow_client.list_artifacts(run_id, item.path)
            ):
                return f"runs:/{run_id}/{item.path}"
    raise ModelNotFoundError(
        f"run {run_id} logged no model; log one with mltrack.save(model, name=..., run=...) "
        "or mlflow.<flavor>.log_model(...)"
    )


def latest_logged_model(experiment: str | None = None) -> str:
    """URI of the most recently logged model in the experiment.

    Raises:
        ModelNotFoundError: the experiment does not exist or has no logged model.
    """
    mlflow_client = client()
    exp_name = experiment_name(experiment)
    with mlflow_errors(f"read experiment '{exp_name}'"):
        exp = mlflow_client.get_experiment_by_name(exp_name)
        models = (
            mlflow_client.search_logged_models(
                experiment_ids=[exp.experiment_id],
                order_by=[{"field_name": "creation_timestamp", "ascending": False}],
                max_results=1,
            )
            if exp is not None
            else []
        )
    if not models:
        raise ModelNotFoundError(
            f"experiment '{exp_name}' has no run with a logged model; pass --run RUN_ID, or "
            "set the experiment with MLTRACK_EXPERIMENT / `experiment:` in .mltrack.yml"
        )
    return str(models[0].model_uri)


# --------------------------------------------------------------------------- read


def fetch_runs(
    mlflow_client: MlflowClient,
    experiment_ids: list[str],
    filter_string: str = "",
    max_runs: int | None = None,
    order_by: list[str] | None = None,
    page_size: int = 1000,
) -> list[Run]:
    """All runs matching ``filter_string``, fetched in pages (never one request per run).

    ``page_size`` is capped at 1000, the most an MLflow server returns per request.
    """
    runs: list[Run] = []
    token: str | None = None
    page_size = max(1, min(page_size, 1000))
    with mlflow_errors("search runs"):
        while True:
            size = page_size if max_runs is None else min(page_size, max_runs - len(runs))
            page = mlflow_client.search_runs(
                experiment_ids,
                filter_string=filter_string,
                max_results=size,
                order_by=order_by,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token or (max_runs is not None and len(runs) >= max_runs):
                return runs


def _runs_by_id(mlflow_client: MlflowClient, run_ids: Iterable[str]) -> dict[str, Run]:
    """Fetch runs by id with one search per 100 ids, across all experiments."""
    ids = sorted({r for r in run_ids if r})
    if not ids:
        return {}
    with mlflow_errors("list experiments"):
        experiments = [e.experiment_id for e in mlflow_client.search_experiments(max_results=1000)]
    found: dict[str, Run] = {}
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        quoted = ", ".join(f"'{r}'" for r in chunk)
        for exp_start in range(0, len(experiments), 100):
            for run in fetch_runs(
                mlflow_client,
                experiments[exp_start : exp_start + 100],
                f"attributes.run_id IN ({quoted})",
            ):
                found[run.info.run_id] = run
    return found


def _model_id_from_source(source: str | None) -> str | None:
    if source and source.startswith("models:/m-"):
        return source[len("models:/") :].split("/", 1)[0]
    return None


def _version_info(mv: ModelVersion, runs: dict[str, Run]) -> ModelVersionInfo:
    run = runs.get(mv.run_id or "")
    return ModelVersionInfo(
        name=mv.name,
        version=str(mv.version),
        uri=f"models:/{mv.name}/{mv.version}",
        run_id=mv.run_id,
        model_id=mv.model_id or _model_id_from_source(mv.source),
        source=mv.source or "",
        flavor=(mv.tags or {}).get(f"{TAG_PREFIX}flavor"),
        aliases=tuple(sorted(mv.aliases or [])),
        created_at=_ts(mv.creation_timestamp),
        metrics=dict(run.data.metrics) if run else {},
        params=dict(run.data.params) if run else {},
        tags=dict(mv.tags or {}),
        description=mv.description or None,
    )


def _registered_model(mlflow_client: MlflowClient, name: str) -> Any:
    def missing() -> MltrackError:
        # Close names only: a typo gets its fix, and the message does not change with
        # whatever else happens to be registered.
        close = difflib.get_close_matches(name, [m.name for m in list_models()], n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return ModelNotFoundError(
            f"no registered model named '{name}'{hint}; list them with `ml models`, "
            "create one with `ml save NAME`"
        )

    with mlflow_errors(f"read registered model '{name}'", not_found=missing):
        return mlflow_client.get_registered_model(name)


def list_models() -> list[RegisteredModelSummary]:
    """Every registered model with its latest version and aliases, by name."""
    mlflow_client = client()
    out: list[RegisteredModelSummary] = []
    token: str | None = None
    with mlflow_errors("list registered models"):
        while True:
            page = mlflow_client.search_registered_models(max_results=1000, page_token=token)
            for rm in page:
                versions = [int(v.version) for v in (rm.latest_versions or [])]
                out.append(
                    RegisteredModelSummary(
                        name=rm.name,
                        latest_version=str(max(versions)) if versions else None,
                        aliases={a: str(v) for a, v in (rm.aliases or {}).items()},
                        updated_at=_ts(rm.last_updated_timestamp),
                        description=rm.description or None,
                    )
                )
            token = page.token
            if not token:
                break
    return sorted(out, key=lambda m: m.name)


def list_versions(name: str) -> list[ModelVersionInfo]:
    """All versions of ``name``, newest first, with the metrics and params of their runs.

    Raises:
        ModelNotFoundError: no registered model has that name.
    """
    mlflow_client = client()
    # search_model_versions leaves aliases out; the registered model has them all.
    alias_map: dict[str, list[str]] = {}
    for alias, number in (_registered_model(mlflow_client, name).aliases or {}).items():
        alias_map.setdefault(str(number), []).append(alias)
    versions: list[ModelVersion] = []
    token: str | None = None
    escaped = name.replace("'", "\\'")
    with mlflow_errors(f"list the versions of '{name}'"):
        while True:
            page = mlflow_client.search_model_versions(
                f"name = '{escaped}'", max_results=10000, page_token=token
            )
            versions.extend(page)
            token = page.token
            if not token:
                break
    runs = _runs_by_id(mlflow_client, [v.run_id for v in versions if v.run_id])
    infos = [
        dataclasses.replace(
            _version_info(v, runs), aliases=tuple(sorted(alias_map.get(str(v.version), [])))
        )
        for v in versions
    ]
    return sorted(infos, key=lambda i: int(i.version), reverse=True)


def get_version(name: str, version_or_alias: str) -> ModelVersionInfo:
    """One version of ``name`` by number (``"3"``) or alias (``"champion"``).

    Raises:
        ModelNotFoundError: unknown model, version or alias.
    """
    mlflow_client = client()
    mv = _model_version(mlflow_client, name, str(version_or_alias))
    return _version_info(mv, _runs_by_id(mlflow_client, [mv.run_id] if mv.run_id else []))


def _model_version(mlflow_client: MlflowClient, name: str, ref: str) -> ModelVersion:
    _registered_model(mlflow_client, name)
    what = f"version {ref}" if ref.isdigit() else f"alias '@{ref}'"

    def missing() -> MltrackError:
        return ModelNotFoundError(
            f"model '{name}' has no {what}; see its versions and aliases with `ml models {name}`"
        )

    with mlflow_errors(f"read '{name}' {what}", not_found=missing, invalid_is_not_found=True):
        if ref.isdigit():
            return mlflow_client.get_model_version(name, ref)
        return mlflow_client.get_model_version_by_alias(name, ref)


# --------------------------------------------------------------------------- resolve


def resolve_model(ref: str) -> ResolvedModel:
    """Resolve a run id or model URI to its run (and registry version when there is one).

    Accepted forms: ``RUN_ID`` (32 hex), ``runs:/RUN_ID/path``, ``models:/NAME/VERSION``,
    ``models:/NAME@ALIAS``, ``models:/m-<id>`` (a logged model), ``m-<id>``, and a bare
    registered model ``NAME`` (its ``champion``, else its latest version).

    Raises:
        RunNotFoundError: a run id that does not exist.
        ModelNotFoundError: a model, version or alias that does not exist.
    """

    ref = ref.strip()
    mlflow_client = client()
    if _RUN_ID_RE.match(ref):
        _get_run(mlflow_client, ref)
        return ResolvedModel(uri=f"runs:/{ref}", run_id=ref)
    if ref.startswith("runs:/"):
        run_id = ref[len("runs:/") :].split("/", 1)[0]
        _get_run(mlflow_client, run_id)
        return ResolvedModel(uri=ref, run_id=run_id)
    body = ref[len("models:/") :] if ref.startswith("models:/") else ref
    if body.startswith("m-") and "/" not in body and "@" not in body:
        with mlflow_errors(
            f"read logged model {body}",
            not_found=lambda: ModelNotFoundError(
                f"no logged model '{body}'; check the id in the run's Models tab"
            ),
        ):
            lm = mlflow_client.get_logged_model(body)
        return ResolvedModel(uri=f"models:/{body}", run_id=lm.source_run_id, model_id=body)
    if "@" in body:
        name, ref_part = body.rsplit("@", 1)
    elif "/" in body:
        name, ref_part = body.rsplit("/", 1)
    elif ref.startswith("models:/"):
        raise ModelNotFoundError(
            f"'{ref}' names no version; use models:/NAME/VERSION or models:/NAME@ALIAS"
        )
    else:
        name, ref_part = body, ""
    if not ref_part:
        aliases = _registered_model(mlflow_client, name).aliases or {}
        if CHAMPION in aliases:
            ref_part = CHAMPION
        else:
            versions = list_versions(name)
            if not versions:
                raise ModelNotFoundError(f"model '{name}' has no versions; add one with `ml save`")
            ref_part = versions[0].version
    mv = _model_version(mlflow_client, name, ref_part)
    return ResolvedModel(
        uri=f"models:/{name}/{mv.version}",
        run_id=mv.run_id,
        model_id=mv.model_id or _model_id_from_source(mv.source),
        name=name,
        version=str(mv.version),
        aliases=tuple(sorted(mv.aliases or [])),
        version_tags=dict(mv.tags or {}),
        alias=None if ref_part.isdigit() else ref_part,
    )


# --------------------------------------------------------------------------- promote


def promote(
    name: str, version: str | int, to: str = CHAMPION, reason: str | None = None
) -> ModelVersionInfo:
    """Point alias ``to`` (``champion`` or ``challenger``) at ``version`` of ``name``.

    The version gets the tags ``mltrack.promoted_to``, ``mltrack.promoted_by``,
    ``mltrack.promoted_at`` (UTC, ISO 8601), ``mltrack.promotion_reason`` and
    ``mltrack.previous_<alias>`` (the version that held the alias before, or ``none``);
    the previous holder gets ``mltrack.replaced_by``. Promoting the current challenger to
    champion also removes its ``challenger`` alias.

    Args:
        name: registered model name.
        version: version number (or an alias such as ``challenger``, resolved first).
        to: alias to move; any name except ``latest`` and ``v<N>``, which MLflow reserves.
        reason: why, stored with the version.

    Returns:
        The promoted version, with its aliases after the move.

    Raises:
        ModelNotFoundError: unknown model or version.
        MltrackError: an invalid alias name.
    """

    if not _ALIAS_RE.match(to) or _RESERVED_ALIAS_RE.match(to):
        raise MltrackError(
            f"invalid alias '{to}': use champion or challenger (or another name of letters, "
            "digits, '_' and '-'; 'latest' and 'v<N>' are reserved by MLflow)"
        )
    mlflow_client = client()
    mv = _model_version(mlflow_client, name, str(version))
    target = str(mv.version)
    previous: str | None = None
    with mlflow_errors(f"promote '{name}' version {target}"):
        try:
            previous = str(mlflow_client.get_model_version_by_alias(name, to).version)
        except Exception as exc:
            if not _missing(exc):
                raise
        mlflow_client.set_registered_model_alias(name, to, target)
        tags = {
            "promoted_to": to,
            "promoted_by": current_user(),
            "promoted_at": _now_iso(),
            "promotion_reason": reason or "",
            f"previous_{to}": previous or "none",
        }
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(name, target, TAG_PREFIX + key, value)
        if previous and previous != target:
            mlflow_client.set_model_version_tag(
                name,
                previous,
                f"{TAG_PREFIX}replaced_by",
                f"{target} ({to}, {tags['promoted_at']})",
            )
        if to == CHAMPION and CHALLENGER in (mv.aliases or []):
            mlflow_client.delete_registered_model_alias(name, CHALLENGER)
    return get_version(name, target)
