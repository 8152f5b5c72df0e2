""":func:`check_server`: health, authentication and a write/read round trip."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from mltrack.errors import ConfigError, TrackingServerError
from mltrack.transport import INVALID_HOST, host_rejected, network_reason
from mltrack.uris import strip_userinfo

_CHECK_EXPERIMENT = "mltrack-server-check"


@dataclass
class CheckResult:
    """One line of ``ml server --check``."""

    name: str
    ok: bool
    detail: str


def _auth_header(username: str | None, password: str | None, token: str | None) -> dict[str, str]:
    if username and password is not None:
        raw = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {}


def _request(
    url: str,
    method: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, Any], str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode(errors="replace")
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        status = int(exc.code)
    try:
        payload = json.loads(text) if text.strip().startswith("{") else {}
    except ValueError:
        payload = {}
    return status, payload, text


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[0] if lines else "")[:200]


def _client_credentials(
    username: str | None, password: str | None, token: str | None
) -> tuple[str | None, str | None, str | None]:
    """Explicit credentials, else MLflow's client variables (``MLFLOW_TRACKING_*``)."""
    env = os.environ.get
    return (
        username if username is not None else env("MLFLOW_TRACKING_USERNAME"),
        password if password is not None else env("MLFLOW_TRACKING_PASSWORD"),
        token if token is not None else env("MLFLOW_TRACKING_TOKEN"),
    )


def check_server(
    url: str,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> list[CheckResult]:
    """Verify a running server: health, authentication, a write/read round trip.

    Credentials default to ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
    ``MLFLOW_TRACKING_TOKEN``). The round trip creates a run in the experiment
    ``mltrack-server-check-<user>``, logs a metric, reads it back and deletes the run.

    Raises:
        TrackingServerError: the server is unreachable, refuses the credentials or the
            host name in ``url`` (the message says which, on one line, without the
            password).
    """
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"{url!r} is not a server URL; use http://HOST:PORT")
    username, password, token = _client_credentials(username, password, token)
    headers = _auth_header(username, password, token)
    results: list[CheckResult] = []

    started = time.monotonic()
    try:
        status, _, text = _request(base + "/health", "GET", {}, timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingServerError(
            f"{base} is unreachable ({network_reason(exc)}); is the server running and the"
            " URL right?"
        ) from None
    if status != 200:
        raise TrackingServerError(f"{base}/health answered {status}: {_first_line(text)}")
    results.append(CheckResult("health", True, f"/health OK in {time.monotonic() - started:.2f} s"))
    results.append(_check_auth(base, headers, username, timeout))
    # One probe experiment per user: each becomes its manager, nobody needs a grant.
    experiment = f"{_CHECK_EXPERIMENT}-{username}" if username else _CHECK_EXPERIMENT
    results.append(_round_trip(base, headers, timeout, experiment))
    return results


def _whoami(
    base: str, headers: dict[str, str], username: str | None, timeout: float
) -> tuple[int, str]:
    """Ask ``/users/current`` who these credentials are: (HTTP status, one-line detail)."""
    status, payload, text = _request(
        base + "/api/2.0/mlflow/users/current", "GET", headers, timeout=timeout
    )
    if status == 200:
        user = payload.get("user", {})
        role = "admin" if user.get("is_admin") else "user"
        return status, f"basic auth on; signed in as {user.get('username')!r} ({role})"
    if status == 401:
        if not headers:
            return status, (
                f"{base} requires authentication (401): set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
        who = f"user {username!r}" if username else "the token"
        return status, (
            f"{base} rejected the credentials of {who} (401): wrong username or password; "
            "check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"
        )
    if status == 404:
        detail = "no auth app on the server (anyone who can reach it can read and write)"
        if headers:
            detail += "; the credentials you set are ignored"
        return status, detail
    if status == 403 and INVALID_HOST in text:
        return status, str(host_rejected(base))
    return status, f"/users/current answered {status}: {_first_line(text)}"


def _check_auth(
    base: str, headers: dict[str, str], username: str | None, timeout: float
) -> CheckResult:
    status, detail = _whoami(base, headers, username, timeout)
    if status in (401, 403):  # nothing further can work: say why on one line
        raise TrackingServerError(detail)
    return CheckResult("auth", status in (200, 404), detail)


def auth_status(
    url: str,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 5.0,
) -> CheckResult:
    """Whom the server at ``url`` takes these credentials for (one cheap request).

    Credentials default to the ``MLFLOW_TRACKING_*`` variables, then to a ``user:password@``
    part of ``url``, as for MLflow's client. Never raises: a refusal (401) or no answer is
    a failed :class:`CheckResult` whose detail says why, without the password.
    """
    base, url_user, url_password = strip_userinfo(url.rstrip("/"))
    username, password, token = _client_credentials(username, password, token)
    if not username and url_user:
        username, password = url_user, url_password or ""
    headers = _auth_header(username, password, token)
    try:
        status, detail = _whoami(base, headers, username, timeout)
    except (urllib.error.URLError, OSError) as exc:
        return CheckResult("auth", False, f"could not ask {base}: {network_reason(exc)}")
    return CheckResult("auth", status in (200, 404), detail)


def _round_trip(base: str, headers: dict[str, str], timeout: float, experiment: str) -> CheckResult:
    api = base + "/api/2.0/mlflow"
    started = time.monotonic()
    status, payload, text = _request(
        f"{api}/experiments/get-by-name?experiment_name={urllib.parse.quote(experiment)}",
        "GET",
        headers,
        timeout=timeout,
    )
    if status == 200:
        experiment_id = payload["experiment"]["experiment_id"]
    elif status == 404:
        status, payload, text = _request(
            f"{api}/experiments/create", "POST", headers, {"name": experiment}, timeout
        )
        if status != 200:
            return _write_failure("create experiment", status, text)
        experiment_id = payload["experiment_id"]
    else:
        return _write_failure("read experiment", status, text)
    status, payload, text = _request(
        f"{api}/runs/create",
        "POST",
        headers,
        {"experiment_id": experiment_id, "run_name": "check", "start_time": _now_ms()},
        timeout,
    )
    if status != 200:
        return _write_failure("create run", status, text)
    run_id = payload["run"]["info"]["run_id"]
    probe = float(uuid.uuid4().int % 1_000_000)
    try:
        status, _, text = _request(
            f"{api}/runs/log-batch",
            "POST",
            headers,
            {
                "run_id": run_id,
                "metrics": [{"key": "probe", "value": probe, "timestamp": _now_ms(), "step": 0}],
            },
            timeout,
        )
        if status != 200:
            return _write_failure("log metric", status, text)
        status, payload, text = _request(
            f"{api}/runs/get?run_id={run_id}", "GET", headers, None, timeout
        )
        if status != 200:
            return _write_failure("read run", status, text)
        metrics = {m["key"]: m["value"] for m in payload["run"]["data"].get("metrics", [])}
        if metrics.get("probe") != probe:
            return CheckResult(
                "round trip", False, f"wrote probe={probe}, read {metrics.get('probe')}"
            )
    finally:
        _request(f"{api}/runs/delete", "POST", headers, {"run_id": run_id}, timeout)
    return CheckResult(
        "round trip",
        True,
        f"created a run, logged and read back a metric in {time.monotonic() - started:.2f} s",
    )


def _write_failure(step: str, status: int, text: str) -> CheckResult:
    if status == 403:
        return CheckResult(
            "round trip",
            False,
            f"{step}: permission denied (403); the user may read but not write here; an "
            "admin can grant EDIT on the experiment",
        )
    return CheckResult("round trip", False, f"{step} answered {status}: {_first_line(text)}")


def _now_ms() -> int:
    return int(time.time() * 1000)
