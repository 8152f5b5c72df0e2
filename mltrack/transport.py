"""How mltrack talks to a tracking store, with failures sorted into two kinds.

* :class:`ServerUnreachable` — connection refused, timeout, 5xx, 429: the data is fine,
  the server is not; spool it and try again later.
* :class:`BatchRejected` — 4xx: the server will never accept this data; keep it aside
  (``rejected/`` in the spool) and tell the user, instead of retrying forever.

For HTTP stores the requests go through MLflow's own REST helper (same auth handling as
``MlflowClient``) but with few retries and a short timeout, so a dead server costs
seconds, not MLflow's default minutes of back-off. Other stores (sqlite, files) use
``MlflowClient`` directly.
"""

from __future__ import annotations

import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

from mltrack.errors import AccessDeniedError, MltrackError, TrackingServerError
from mltrack.spool import SpoolBatch
from mltrack.uris import redact_urls, strip_userinfo

__all__ = [
    "BatchRejected",
    "ServerUnreachable",
    "TrackingTransport",
    "access_denied",
    "is_http_uri",
    "network_cause",
    "network_reason",
]

# MLflow's log-batch limits per request: 1000 metrics, 100 params, 100 tags, 1000 in all.
_MAX_PARAMS = 100
_MAX_TAGS = 100
_MAX_ENTITIES = 1000


#: Causes of an unreachable server, as error texts name them -> mltrack's words for them.
_CAUSES = (
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"timed? ?out", re.I), "no answer in time"),
    (
        re.compile(r"name or service not known|failed to resolve|nodename nor servname", re.I),
        "unknown host name",
    ),
    (re.compile(r"too many 5\d\d error responses", re.I), "it keeps answering 5xx errors"),
)


def network_cause(text: str) -> str | None:
    """Why a server could not be reached, in the words mltrack uses for it everywhere
    ("connection refused", "no answer in time", "unknown host name"), when the text of
    an error names a cause it knows."""
    for pattern, cause in _CAUSES:
        if pattern.search(text):
            return cause
    return None


def network_reason(exc: BaseException) -> str:
    """Why a request got no answer, in words: ``connection refused``, not urllib's
    ``<urlopen error [Errno 111] Connection refused>`` or httpx's ``[Errno 111] ...``;
    the OS's own words for a cause :func:`network_cause` does not name."""
    reason = getattr(exc, "reason", exc)
    known = network_cause(str(reason))
    if known is not None:
        return known
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    return _short(reason)


class ServerUnreachable(TrackingServerError):
    """The tracking server did not answer (or answered 5xx/429)."""


class BatchRejected(MltrackError):
    """The tracking server refused a batch for good (4xx)."""


# MLflow answers 400 when its database, not the request, is the problem (a full connection
# pool, a busy sqlite file, PostgreSQL out of connections): retry those, do not reject.
_OVERLOAD_MARKERS = (
    "QueuePool limit",
    "database is locked",
    "too many clients already",
    "remaining connection slots are reserved",
)


def _overloaded(message: str) -> bool:
    return any(marker in message for marker in _OVERLOAD_MARKERS)


def is_http_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


class TrackingTransport:
    """Sends batches, creates and terminates runs; implements :class:`mltrack.spool.Sender`."""

    def __init__(self, tracking_uri: str, timeout_s: float = 10.0, max_retries: int = 1) -> None:
        self.tracking_uri = tracking_uri
        #: How messages name the server: without the user and password a URI may carry.
        self.shown_uri = strip_userinfo(tracking_uri)[0]
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._client: Any = None
        self._creds: Any = None
        #: requests made so far by kind (``log-batch``, ``update``), failed ones included
        #: (HTTP-level retries are not counted): shows what batching saves.
        self.requests: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, kind: str) -> None:
        with self._count_lock:
            self.requests[kind] += 1

    # -- plumbing ---------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        if self._creds is None:
            self._creds = get_default_host_creds(self.tracking_uri)
        self._count(endpoint.rsplit("/", 1)[-1])
        try:
            response = http_request(
                self._creds,
                endpoint,
                "POST",
                max_retries=self.max_retries,
                backoff_factor=0.5,
                timeout=self.timeout_s,
                json=body,
                raise_on_status=False,
            )
        except Exception as exc:  # requests' ConnectionError, MlflowException(max retries)...
            raise ServerUnreachable(
                f"{self.shown_uri} unreachable: {network_reason(exc)}"
            ) from None
        status = response.status_code
        if status == 200:
            return dict(response.json() or {})
        message = _short(response.text)
        if status >= 500 or status == 429 or _overloaded(response.text):
            raise ServerUnreachable(f"{self.shown_uri} answered {status}: {message}")
        if status in (401, 403):
            raise access_denied(self.tracking_uri, status, "log metrics to this run", message)
        raise BatchRejected(f"{endpoint} rejected ({status}): {message}")

    def is_reachable(self) -> bool:
        """Quick health probe (2 s); always True for non-HTTP stores."""
        if not is_http_uri(self.tracking_uri):
            return True
        # urllib refuses user:password@ in a URL (MLflow's client accepts it); /health
        # needs no credentials.
        bare = strip_userinfo(self.tracking_uri)[0]
        try:
            with urllib.request.urlopen(bare.rstrip("/") + "/health", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    # -- Sender protocol --------------------------------------------------------------
    def send(self, batch: SpoolBatch) -> None:
        """Log one batch, split to respect MLflow's per-request limits."""
        metrics, params, tags = list(batch.metrics), list(batch.params), list(batch.tags)
        while metrics or params or tags:
            chunk_params, params = params[:_MAX_PARAMS], params[_MAX_PARAMS:]
            chunk_tags, tags = tags[:_MAX_TAGS], tags[_MAX_TAGS:]
            room = _MAX_ENTITIES - len(chunk_params) - len(chunk_tags)
            chunk_metrics, metrics = metrics[:room], metrics[room:]
            self._log_batch(batch.run_id, chunk_metrics, chunk_params, chunk_tags)

    def _log_batch(
        self,
        run_id: str,
        metrics: list[tuple[str, float, int, int]],
        params: list[tuple[str, str]],
        tags: list[tuple[str, str]],
    ) -> None:
        if is_http_uri(self.tracking_uri):
            self._post(
                "/api/2.0/mlflow/runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": [
                        {"key": k, "value": _json_float(v), "timestamp": ts, "step": step}
                        for k, v, ts, step in metrics
                    ],
                    "params": [{"key": k, "value": v} for k, v in params],
                    "tags": [{"key": k, "value": v} for k, v in tags],
                },
            )
            return
        from mlflow.entities import Metric, Param, RunTag

        self._count("log-batch")
        try:
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, v, ts, step) for k, v, ts, step in metrics],
                params=[Param(k, v) for k, v in params],
                tags=[RunTag(k, v) for k, v in tags],
                synchronous=True,
            )
        except Exception as exc:
            raise BatchRejected(f"log_batch rejected: {_short(exc)}") from None

    def create_run(self, record: dict[str, Any]) -> str:
        """Create a server run for a spooled ``local-…`` run; returns its id."""
        try:
            experiment_id = self._experiment_id(record.get("experiment_name"))
        except Exception as exc:  # never let it kill the logger thread: retry later
            raise ServerUnreachable(
                f"could not find or create the experiment: {network_reason(exc)}"
            ) from None
        tags = dict(record.get("tags") or {})
        if record.get("run_name"):
            tags["mlflow.runName"] = record["run_name"]
        if record.get("parent_id"):
            tags["mlflow.parentRunId"] = record["parent_id"]
        tags["mltrack.spooled"] = "true"
        try:
            run = self.client.create_run(
                experiment_id,
                start_time=record.get("start_time") or int(time.time() * 1000),
                tags=tags,
                run_name=record.get("run_name"),
            )
        except Exception as exc:
            raise ServerUnreachable(f"could not create run: {network_reason(exc)}") from None
        return str(run.info.run_id)

    def _experiment_id(self, name: str | None) -> str:
        if not name:
            return "0"
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except Exception:
            # Another process created it in between (or the server is down: then this
            # raises too and the replay is retried later).
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def terminate_run(self, run_id: str, status: str, end_time: int | None) -> None:
        if is_http_uri(self.tracking_uri):
            # Straight to the REST API: short retries, and no second "View run" line
            # (MLflow's end_run, called next by mltrack.run(), prints it once).
            body: dict[str, Any] = {"run_id": run_id, "status": status}
            if end_time is not None:
                body["end_time"] = end_time
            self._post("/api/2.0/mlflow/runs/update", body)
            return
        try:
            self.client.set_terminated(run_id, status=status, end_time=end_time)
        except Exception as exc:
            raise ServerUnreachable(f"could not end run {run_id}: {network_reason(exc)}") from None


def _who(user_in_uri: str | None = None) -> str:
    # MLflow sends the variables' user when both are set (requests' auth= wins over the URL's).
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or user_in_uri
    if user:
        return f"user {user!r}"
    return "the token" if os.environ.get("MLFLOW_TRACKING_TOKEN") else "anonymous requests"


#: What MLflow answers (403) to a request whose Host header it does not accept.
INVALID_HOST = "Invalid Host header"


def host_rejected(uri: str) -> AccessDeniedError:
    """The one-line error for MLflow's 403 "Invalid Host header" (DNS-rebinding protection)."""
    parts = urllib.parse.urlsplit(strip_userinfo(uri)[0])
    name = parts.hostname or parts.netloc
    return AccessDeniedError(
        f"{parts.scheme}://{parts.netloc} refused the host name {name!r} in its URL (403 "
        f"{INVALID_HOST}: MLflow's DNS-rebinding protection); start the server with "
        f"`ml server --allowed-hosts {name}` (`mlflow server --allowed-hosts {name}`), or "
        "use a URL with a name it accepts"
    )


def access_denied(uri: str, status: int, action: str, answer: str = "") -> AccessDeniedError:
    """The one-line error for a 401/403 answer; never includes a secret.

    Args:
        uri: the tracking server's URI.
        status: 401 or 403.
        action: what was refused, e.g. ``"log metrics to this run"``.
        answer: the response body (or the exception text holding it), when known.
    """
    if status == 403 and INVALID_HOST in answer:
        return host_rejected(uri)
    uri, user_in_uri, _ = strip_userinfo(uri)
    if status == 401:
        if not (
            user_in_uri
            or os.environ.get("MLFLOW_TRACKING_USERNAME")
            or os.environ.get("MLFLOW_TRACKING_TOKEN")
        ):
            return AccessDeniedError(
                f"{uri} requires authentication (401): set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
        return AccessDeniedError(
            f"{uri} rejected the credentials of {_who(user_in_uri)} (401): wrong username or "
            "password; check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN, or the user and password in MLFLOW_TRACKING_URI)"
        )
    if any(
        word in action for word in ("registered-models/", "model-versions/", "registered model")
    ):
        return AccessDeniedError(
            f"{uri} denied {_who(user_in_uri)} permission to {action} (403 "
            "PERMISSION_DENIED); reading needs READ, new versions and aliases need EDIT: ask "
            "the registered model's owner or an admin to grant it (`ml server grant USER MODEL "
            "EDIT --model`)"
        )
    return AccessDeniedError(
        f"{uri} denied {_who(user_in_uri)} permission to {action} (403 PERMISSION_DENIED); "
        "reading needs READ, logging runs needs EDIT: ask the experiment's owner or an admin "
        "to grant it"
    )


def _json_float(value: float) -> float | str:
    # MLflow's REST API takes NaN/Infinity as strings inside JSON.
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _short(exc: object) -> str:
    text = redact_urls(str(exc)).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
