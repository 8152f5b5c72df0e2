"""The exceptions mltrack raises.

Every error derives from :class:`MltrackError` and carries a message that names what is
wrong and how to fix it. The CLI prints that message on one line and exits with code 2
(pass ``--debug`` or set ``MLTRACK_DEBUG=1`` for the traceback). The docs page
"Error messages" is generated from the docstrings below, so each explains the cause and
the fix.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "BudgetExceeded",
    "ConfigError",
    "DeployError",
    "LiveDocsError",
    "MltrackError",
    "ModelNotFoundError",
    "RunNotFoundError",
    "ServerStartError",
    "TrackingServerError",
    "UnsupportedModelError",
]


class MltrackError(Exception):
    """Base class of every error mltrack raises on purpose.

    Catch this to handle any mltrack failure; the message is meant for a person.
    """


class ConfigError(MltrackError, ValueError):
    """The configuration is invalid.

    Raised for an unknown key or a value of the wrong type in ``.mltrack.yml``, and for
    an unknown key in a section or a value of the wrong type in an ``MLTRACK_*``
    environment variable (``MLTRACK_LLM__BUDGET``, ``MLTRACK_LOGGING__BATCH_SIZE=many``).
    The message names the file (or variable), the key and the expected type. Fix the
    value, or run ``ml doctor`` to check the whole config; it also lists ``MLTRACK_*``
    variables that name no setting, which are ignored rather than rejected.
    """


class ServerStartError(MltrackError, RuntimeError):
    """A local MLflow server (throwaway, ``ml server`` or ``ml ui``) did not start.

    The message includes the tail of the server's log. Common causes: the port is taken
    (choose another with ``--port``), or the backend store URI is wrong.
    """


class TrackingServerError(MltrackError, ConnectionError):
    """The tracking server could not be reached or refused the request.

    Check ``MLFLOW_TRACKING_URI`` (or ``tracking_uri`` in ``.mltrack.yml``) and run
    ``ml doctor``. Metrics logged while the server is down are spooled to disk and replayed
    automatically, or with ``ml sync``.
    """


class RunNotFoundError(MltrackError, LookupError):
    """No MLflow run matches the given id.

    Check the id with ``ml runs``; run ids are 32 hexadecimal characters.
    """


class ModelNotFoundError(MltrackError, LookupError):
    """No registered model (or version or alias) matches the given name.

    List registered models with ``ml models``; create one with ``ml save NAME``.
    """


class UnsupportedModelError(MltrackError, TypeError):
    """mltrack cannot find an MLflow flavor for this model object.

    Supported automatically: scikit-learn estimators, PyTorch modules, Keras 3 models
    (any backend), XGBoost and Transformers models when installed, and any
    ``mlflow.pyfunc.PythonModel``. Wrap other models in a ``PythonModel`` subclass.
    """


class BudgetExceeded(MltrackError):
    """An LLM cost budget has been spent.

    Raised before the next tracked LLM call once the cost recorded for the budget scope
    reaches ``budget_usd``. Raise the budget (decorator argument or ``llm.budget_usd`` in
    ``.mltrack.yml``), or set ``llm.on_budget_exceeded: warn`` to only warn.
    """


class DeployError(MltrackError, RuntimeError):
    """A deployment target could not build or deploy the model.

    The message names the target and the failing step; ``--dry-run`` writes the
    artifacts without running any external tool, so they can be inspected.
    """


class LiveDocsError(MltrackError, RuntimeError):
    """An example, notebook or executable block failed while building the docs.

    The message has the form ``page:line -> file:line: ExceptionType: message`` followed by
    the failing source line and the traceback tail. A mistake in a ``livedocs`` block or
    an example's header reads ``page:line: what is wrong and how to fix it``.

    Attributes:
        where: ``page:line`` (or the file) the error is about, when it is about one.
        message: the message without that location.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


class AccessDeniedError(TrackingServerError, PermissionError):
    """The tracking server refused the credentials (401) or the permission (403).

    401: the username/password (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``)
    or the token (``MLFLOW_TRACKING_TOKEN``) is wrong or missing; check them with
    ``ml server --check URL``. 403: the user is known but lacks the permission on that
    experiment or registered model (reading needs READ, logging runs or adding versions
    needs EDIT); ask its owner or an admin to grant it
    (``ml server grant USER EXPERIMENT EDIT``, ``--model`` for a registered model).
    """
