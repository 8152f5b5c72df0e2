"""Serve an MLflow model over HTTP: validation, auth, metrics and OpenAPI from its signature.

Examples:
    >>> from mltrack.serve import create_app
    >>> app = create_app("iris-classifier")  # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8080)

See :func:`mltrack.serve.app.create_app` and the REST API reference in the docs.
"""

from __future__ import annotations

# resolve_token and resolve_model stay importable from here; they are not public API.
from mltrack.serve.app import TOKEN_ENV, create_app, resolve_token  # noqa: F401
from mltrack.serve.model import LoadedModel, ModelRef, load_model, resolve_model  # noqa: F401
from mltrack.serve.predictor import ModelFailure, Predictor
from mltrack.serve.schema import InputSpec, RequestError

__all__ = [
    "TOKEN_ENV",
    "InputSpec",
    "LoadedModel",
    "ModelFailure",
    "ModelRef",
    "Predictor",
    "RequestError",
    "create_app",
    "load_model",
]
