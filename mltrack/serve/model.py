"""Resolve a model reference, load it once, and score validated input.

A reference is a registered model name (``NAME`` means ``models:/NAME@champion``, or
the latest version when there is no champion alias), ``NAME@alias``, ``NAME/3``, any
MLflow model URI (``models:/…``, ``runs:/…``, ``s3://…``) or a local model directory.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mltrack._process import owned_tempdir, reap_tempdirs
from mltrack.errors import ModelNotFoundError
from mltrack.frameworks import import_skops
from mltrack.serve.schema import InputSpec, TensorInput

__all__ = ["LoadedModel", "ModelRef", "find_card", "load_model", "resolve_model", "to_jsonable"]

#: Written next to ``MLmodel`` in build contexts: the registry identity of the copy.
REF_FILE = "mltrack_ref.json"
#: The model card artifact written by ``mltrack.model_card(...).log_to_run()``.
CARD_FILE = "model_card.md"
#: ``models:/m-…``: a logged model's id (MLflow 3), not a registered name.
_LOGGED_MODEL_RE = re.compile(r"^m-[0-9a-f]{32}$")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference.

    Attributes:
        uri: the URI MLflow loads (``models:/NAME@champion``, ``runs:/…``, a path).
        name: registered model name, when the model is registered.
        version: registered model version, when known.
        alias: the alias used to resolve it, when one was.
    """

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None

    @property
    def slug(self) -> str:
        """A name safe for file, container and Kubernetes resource names.

        The model's name, with its alias unless that is ``champion`` (what ``NAME`` means):
        a challenger shipped beside its champion gets a deployment of its own
        (``churn-challenger``) instead of replacing the champion's (``churn``).
        """
        base = self.name or Path(self.uri.rstrip("/")).name or "model"
        if self.name and self.alias and self.alias != "champion":
            base = f"{self.name}-{self.alias}"
        slug = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")
        return (slug or "model")[:50]


def _client() -> Any:
    """A client on the store mltrack resolves (env/config, else the project's local store)."""
    from mlflow import MlflowClient

    try:
        from mltrack.store import tracking_store
    except ImportError:  # a trimmed copy of mltrack (build contexts): MLflow's own default
        pass
    else:
        tracking_store()
    return MlflowClient()


def resolve_model(name_or_uri: str) -> ModelRef:
    """Resolve ``name_or_uri`` to a loadable URI.

    Names, ``models:/`` and ``runs:/`` URIs and run ids go through the registry's
    resolver (:func:`mltrack.registry.resolve_model`, the one place that reads the
    registry). A reference that goes through an alias is served by its alias URI
    (``NAME`` -> ``models:/NAME@champion``), so the server follows the alias' version
    as it was when the model loaded, and says which alias it serves.

    Args:
        name_or_uri: ``NAME``, ``NAME@alias``, ``NAME/VERSION``, a run id, an MLflow model
            URI or a local directory containing an ``MLmodel`` file.

    Raises:
        ModelNotFoundError: no such registered model, version, alias or run, or no such path.
    """
    ref = name_or_uri.strip()
    if not ref:
        raise ModelNotFoundError("empty model reference; pass a model name or a models:/ URI")
    path = Path(ref).expanduser()
    if (path / "MLmodel").is_file():
        return _local_ref(path)
    if ref.startswith(("/", "./", "../", "file:")):
        local = Path(ref.removeprefix("file://").removeprefix("file:"))
        if not (local / "MLmodel").is_file():
            raise ModelNotFoundError(f"'{ref}' is not an MLflow model directory (no MLmodel file)")
        return ModelRef(ref)
    if ":/" in ref and not ref.startswith(("models:/", "runs:/")):
        _client()  # s3://, gs://, ...: MLflow resolves other schemes through the store too
        return ModelRef(ref)
    # Imported here: a server of a local directory never needs the registry.
    from mltrack.registry import logged_model_of_run
    from mltrack.registry import resolve_model as resolve_in_registry

    body = ref.removeprefix("models:/")
    if body != ref and not any(c in body for c in "@/") and not _LOGGED_MODEL_RE.match(body):
        ref = body  # models:/NAME: as NAME, its champion or else its latest version
    resolved = resolve_in_registry(ref)
    if resolved.name is None or resolved.version is None:
        if resolved.run_id and resolved.uri == f"runs:/{resolved.run_id}":
            return ModelRef(logged_model_of_run(resolved.run_id))  # a run: the model it logged
        return ModelRef(resolved.uri)  # a run's artifact path or a logged model (m-...)
    if resolved.alias is not None:
        uri = f"models:/{resolved.name}@{resolved.alias}"
        return ModelRef(uri, resolved.name, resolved.version, resolved.alias)
    return ModelRef(resolved.uri, resolved.name, resolved.version)


def _local_ref(path: Path) -> ModelRef:
    """A model directory; its registry identity comes from ``REF_FILE`` when shipped."""
    name = version = alias = None
    marker = path / REF_FILE
    if marker.is_file():
        try:
            data = json.loads(marker.read_text())
            name, version, alias = data.get("name"), data.get("version"), data.get("alias")
        except ValueError:
            pass
    return ModelRef(str(path.resolve()), name, version, alias)


def write_ref_file(ref: ModelRef, model_dir: Path) -> None:
    """Record where a copied model came from, so a server of the copy can say so."""
    data = {"name": ref.name, "version": ref.version, "alias": ref.alias, "source": ref.uri}
    (model_dir / REF_FILE).write_text(json.dumps(data, indent=2) + "\n")


@dataclass
class LoadedModel:
    """A pyfunc model loaded once, with what the server needs to validate and describe it."""

    ref: ModelRef
    local_path: Path
    pyfunc: Any
    spec: InputSpec
    input_example: Any = None
    load_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    _fast_predict: Any = None

    def predict(
        self, data: pd.DataFrame | TensorInput, params: dict[str, Any] | None = None
    ) -> Any:
        """Score validated input.

        Column input already has the signature's dtypes (see :mod:`mltrack.serve.schema`),
        so the model's own predict is called directly, skipping MLflow's generic schema
        enforcement (about half of the cost of a single-row prediction). Params and
        tensor input go through ``PyFuncModel.predict`` unchanged.
        """
        value = data.value if isinstance(data, TensorInput) else data
        if self._fast_predict is not None and params is None and isinstance(data, pd.DataFrame):
            return self._fast_predict(value)
        if params is not None:
            return self.pyfunc.predict(value, params=params)
        return self.pyfunc.predict(value)


def _input_example(local: Path) -> Any:
    """The model's serving input example as a JSON payload, or ``None``."""
    for name in ("serving_input_example.json",):
        file = local / name
        if file.is_file():
            try:
                payload = json.loads(file.read_text())
            except ValueError:
                return None
            split = payload.get("dataframe_split") if isinstance(payload, dict) else None
            if isinstance(split, dict) and "columns" in split:
                return {
                    "records": [
                        dict(zip(split["columns"], row, strict=False)) for row in split["data"]
                    ]
                }
            return payload
    return None


_DOWNLOAD_PREFIX = "mltrack-model-"


def _download_dir() -> Path:
    # MLflow's own default is a mkdtemp() nobody removes: one leftover per server start.
    # Ours is removed at exit; one whose process was killed outright (no exit handlers)
    # carries that process's pid and start time, and the next model load removes it.
    reap_tempdirs((_DOWNLOAD_PREFIX,))
    path = owned_tempdir(_DOWNLOAD_PREFIX)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def load_model(ref: ModelRef | str, dst_dir: Path | None = None) -> LoadedModel:
    """Download (when remote) and load a model as an MLflow pyfunc.

    Args:
        ref: a resolved reference or anything :func:`resolve_model` accepts.
        dst_dir: where to download the artifacts; when omitted, a temporary directory that
            is removed when this process exits (the model may read from it while it serves).

    Raises:
        ModelNotFoundError: the artifacts cannot be downloaded or loaded.
    """
    import mlflow.pyfunc
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    if isinstance(ref, str):
        ref = resolve_model(ref)
    start = time.perf_counter()
    try:
        if Path(ref.uri).is_dir():
            local = Path(ref.uri)
        else:
            target = dst_dir or _download_dir()
            local = Path(download_artifacts(artifact_uri=ref.uri, dst_path=str(target)))
        if _saved_with_skops(local):
            import_skops()  # not torch with it, as a plain import would
        pyfunc = mlflow.pyfunc.load_model(str(local))
    except (MlflowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"cannot load model '{ref.uri}': {first[:300]}") from None
    meta = pyfunc.metadata
    spec = InputSpec.from_signature(meta.get_input_schema())
    loaded = LoadedModel(
        ref=ref,
        local_path=local,
        pyfunc=pyfunc,
        spec=spec,
        input_example=_input_example(local),
        load_seconds=time.perf_counter() - start,
        info=_describe(ref, meta),
    )
    if not Path(ref.uri).is_dir():
        loaded.info["card_uri"] = find_card(meta.run_id)
    impl = getattr(pyfunc, "_model_impl", None)  # the flavor's own wrapper
    if spec.kind == "columns" and impl is not None and callable(getattr(impl, "predict", None)):
        loaded._fast_predict = impl.predict
    return loaded


def _saved_with_skops(local: Path) -> bool:
    """Whether the model is a scikit-learn one saved with skops (MLflow's default)."""
    import yaml

    try:
        meta = yaml.safe_load((local / "MLmodel").read_text())
        return bool(meta["flavors"]["sklearn"]["serialization_format"] == "skops")
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return False


def _describe(ref: ModelRef, meta: Any) -> dict[str, Any]:
    signature = meta.signature
    return {
        "name": ref.name,
        "version": ref.version,
        "alias": ref.alias,
        "uri": ref.uri,
        "run_id": meta.run_id,
        "model_uuid": meta.model_uuid,
        "flavors": sorted(meta.flavors),
        "mlflow_version": meta.mlflow_version,
        "created": meta.utc_time_created,
        "signature": _signature_json(signature),
    }


def find_card(run_id: str | None) -> str | None:
    """``runs:/RUN/model_card.md`` when the run has a model card (``mltrack.model_card``)."""
    if not run_id:
        return None
    try:
        names = {f.path for f in _client().list_artifacts(run_id)}
    except Exception:  # the card is optional: never fail a load for it
        return None
    return f"runs:/{run_id}/{CARD_FILE}" if CARD_FILE in names else None


def _signature_json(signature: Any) -> dict[str, Any] | None:
    """The signature as plain JSON (MLflow stores each part as a JSON string)."""
    if signature is None:
        return None
    out: dict[str, Any] = {}
    for key, value in signature.to_dict().items():
        try:
            out[key] = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            out[key] = value
    return out


def to_jsonable(predictions: Any) -> Any:
    """Convert model output (arrays, frames, series, scalars) to JSON-ready Python values."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series | np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, dict):
        return {str(k): to_jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, list | tuple):
        return [to_jsonable(v) for v in predictions]
    if isinstance(predictions, np.generic):
        return predictions.item()
    return predictions
