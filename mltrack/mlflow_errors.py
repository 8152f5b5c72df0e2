"""The one place where MLflow's exceptions become mltrack's.

One table sorts what MLflow raises (``MlflowException`` with its ``error_code`` and HTTP
status, the wrapped connection failures of its REST client, and requests' ``HTTPError``
from proxied artifact transfers) into a :class:`Failure`; :func:`translate` turns a
failure into mltrack's exception with the caller's words for what was being done, and
:func:`mlflow_errors` applies it around a block. The CLI's last-resort handler runs the
same :func:`translate` over an exception's chain, so a refused password reads the same
whichever call met it.
"""

from __future__ import annotations

import enum
import re
import sys
import urllib.parse
from collections.abc import Callable
from typing import Literal

from mltrack.errors import MltrackError, TrackingServerError

__all__ = [
    "Failure",
    "artifact_path",
    "classify",
    "mlflow_errors",
    "tracking_uri_shown",
    "translate",
    "unreachable_cause",
]


class Failure(enum.Enum):
    """What went wrong, as far as mltrack's user is concerned."""

    NOT_FOUND = "not found"
    #: MLflow's answer to a malformed id (a run id that is not 32 hex characters).
    INVALID = "invalid parameter"
    UNAUTHENTICATED = "401"
    DENIED = "403"
    UNREACHABLE = "unreachable"


#: MLflow error codes (``MlflowException.error_code``) -> failure.
_CODES = {
    "RESOURCE_DOES_NOT_EXIST": Failure.NOT_FOUND,
    "NOT_FOUND": Failure.NOT_FOUND,
    "INVALID_PARAMETER_VALUE": Failure.INVALID,
    "PERMISSION_DENIED": Failure.DENIED,
    "UNAUTHENTICATED": Failure.UNAUTHENTICATED,
    "CUSTOMER_UNAUTHORIZED": Failure.UNAUTHENTICATED,
}
#: HTTP statuses of a REST answer without a known code -> failure.
_STATUSES = {401: Failure.UNAUTHENTICATED, 403: Failure.DENIED, 404: Failure.NOT_FOUND}

# MLflow wraps requests' errors in a bare MlflowException ("API request to ... failed with
# exception ..."); requests' own errors are not matched here: they also come from model
# servers and LLM APIs, which are not the tracking server.
_WRAPPED = re.compile(r"^API request to \S+ failed with (timeout )?exception")
_ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts/"


def _http_status(exc: BaseException) -> int:
    getter = getattr(exc, "get_http_status_code", None)
    if callable(getter):
        try:
            return int(getter())
        except (TypeError, ValueError):
            return 0
    return 0


def unreachable_cause(exc: BaseException) -> str | None:
    """Why MLflow's REST client could not reach the server, when ``exc`` says so."""
    from mltrack.transport import network_cause

    text = str(exc)
    if not _WRAPPED.search(text):
        return None
    return network_cause(text) or "no answer"


def classify(exc: BaseException, tracking_call: bool = False) -> Failure | None:
    """The failure ``exc`` stands for, or ``None`` for anything else (a bug, a bad value).

    Args:
        exc: the exception.
        tracking_call: ``exc`` came from a call to the tracking store, so a bare requests
            connection error is the tracking server's (elsewhere it may be a model
            server's or an LLM API's).
    """
    mlflow_exceptions = sys.modules.get("mlflow.exceptions")
    if mlflow_exceptions is not None and isinstance(exc, mlflow_exceptions.MlflowException):
        code = str(getattr(exc, "error_code", "") or "")
        status = _http_status(exc)
        # A 401/403 status wins over the generic code MLflow's auth app may send with it.
        if status in (401, 403):
            return _STATUSES[status]
        if code in _CODES:
            return _CODES[code]
        if unreachable_cause(exc) is not None:
            return Failure.UNREACHABLE
        return _STATUSES.get(status)
    requests_exceptions = sys.modules.get("requests.exceptions")
    if requests_exceptions is not None:
        if tracking_call and isinstance(exc, requests_exceptions.ConnectionError):
            return Failure.UNREACHABLE
        if isinstance(exc, requests_exceptions.HTTPError) and artifact_path(exc) is not None:
            return _STATUSES.get(getattr(exc.response, "status_code", 0))
    return None


def artifact_path(exc: BaseException) -> str | None:
    """The artifact of a proxied transfer the server refused (``None`` for other errors)."""
    url = urllib.parse.urlsplit(str(getattr(getattr(exc, "response", None), "url", "")))
    if not url.path.startswith("/api/2.0/mlflow"):
        return None
    # Downloads name the artifact in ?path=, uploads in the URL path.
    path = urllib.parse.parse_qs(url.query).get("path", [""])[0] or url.path
    return path.removeprefix(_ARTIFACTS_API)


def translate(
    exc: BaseException,
    action: str,
    uri: str,
    not_found: Callable[[], MltrackError] | None = None,
    invalid_is_not_found: bool = False,
    tracking_call: bool = False,
) -> MltrackError | None:
    """mltrack's error for ``exc``, or ``None`` when it is none of the known failures.

    Args:
        exc: what MLflow (or requests, under it) raised.
        action: what was being done, for the message (``"read run 0a1b…"``).
        uri: the tracking URI, password already hidden.
        not_found: builds the error for a missing resource (it names the resource and the
            command that lists them); without it a missing resource is not translated.
        invalid_is_not_found: MLflow answers a malformed id with INVALID_PARAMETER_VALUE;
            where the id came from the user, that is the same as "no such thing".
        tracking_call: see :func:`classify`.
    """
    from mltrack.transport import access_denied

    failure = classify(exc, tracking_call)
    if failure is Failure.INVALID and invalid_is_not_found:
        failure = Failure.NOT_FOUND
    if failure is Failure.NOT_FOUND:
        return not_found() if not_found is not None else None
    if failure in (Failure.UNAUTHENTICATED, Failure.DENIED):
        status = 401 if failure is Failure.UNAUTHENTICATED else 403
        # An artifact transfer's answer is in its response; MLflow's text holds it otherwise.
        answer = str(getattr(getattr(exc, "response", None), "text", "") or exc)
        return access_denied(uri, status, action, answer)
    if failure is Failure.UNREACHABLE:
        cause = unreachable_cause(exc) or "connection failed"
        return TrackingServerError(
            f"cannot reach the tracking server {uri} ({cause}) to {action}; is it running "
            "and is MLFLOW_TRACKING_URI right? `ml doctor` checks both"
        )
    return None


def tracking_uri_shown() -> str:
    """The tracking URI in effect, password hidden, for messages."""
    import os

    from mltrack.uris import redact_uri

    mlflow = sys.modules.get("mlflow")
    uri = mlflow.get_tracking_uri() if mlflow is not None else ""
    return redact_uri(uri or os.environ.get("MLFLOW_TRACKING_URI", "the tracking server"))


class mlflow_errors:  # noqa: N801 - used like a function: `with mlflow_errors(...):`
    """Raise mltrack's error for a known MLflow failure inside the block (see :func:`translate`).

    Anything else propagates unchanged: mltrack's own errors, and MLflow errors that are
    not one of the known failures (a bug shows its traceback). A class rather than a
    generator, so a ``--debug`` traceback ends at the call that failed, not in contextlib.

    Args:
        action: what the block does, for the message (``"read run 0a1b…"``).
        not_found: builds the error for a missing resource.
        invalid_is_not_found: treat MLflow's INVALID_PARAMETER_VALUE as "not found".
    """

    def __init__(
        self,
        action: str,
        not_found: Callable[[], MltrackError] | None = None,
        invalid_is_not_found: bool = False,
    ) -> None:
        self.action = action
        self.not_found = not_found
        self.invalid_is_not_found = invalid_is_not_found

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> Literal[False]:
        if exc is None or isinstance(exc, MltrackError) or not isinstance(exc, Exception):
            return False
        error = translate(
            exc,
            self.action,
            tracking_uri_shown(),
            self.not_found,
            self.invalid_is_not_found,
            tracking_call=True,
        )
        if error is None:
            return False
        raise error from None
