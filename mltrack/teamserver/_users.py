"""Users and permissions through MLflow's basic-auth REST API."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from mltrack.errors import ConfigError, TrackingServerError
from mltrack.teamserver._check import _auth_header, _first_line, _request
from mltrack.transport import network_reason
from mltrack.uris import redact_uri

PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


def _auth_call(
    url: str,
    username: str,
    password: str,
    path: str,
    method: str,
    body: dict[str, Any] | None,
    action: str,
) -> dict[str, Any]:
    headers = _auth_header(username, password, None)
    try:
        status, payload, text = _request(url.rstrip("/") + path, method, headers, body)
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingServerError(
            f"{redact_uri(url)} is unreachable ({network_reason(exc)})"
        ) from None
    if status == 200:
        return payload
    if status == 401:
        raise _denied(url, username, 401, action)
    if status == 403:
        raise _denied(url, username, 403, action)
    if status == 404 and "users" in path:
        raise TrackingServerError(f"{url} has no auth app: start it with `ml server --auth`")
    message = payload.get("message") or _first_line(text)
    raise TrackingServerError(f"{action} failed ({status}): {message}")


def _denied(url: str, username: str, status: int, action: str) -> TrackingServerError:
    from mltrack.errors import AccessDeniedError

    if status == 401:
        return AccessDeniedError(
            f"{url} rejected the credentials of user {username!r} (401): wrong username or password"
        )
    return AccessDeniedError(
        f"{url} denied user {username!r} permission to {action} (403); only admins and the "
        "resource's MANAGE holders may do this"
    )


def create_user(
    url: str, username: str, password: str, admin_user: str, admin_password: str
) -> None:
    """Create a basic-auth user (as an admin). Raises TrackingServerError on refusal."""
    _auth_call(
        url,
        admin_user,
        admin_password,
        "/api/2.0/mlflow/users/create",
        "POST",
        {"username": username, "password": password},
        f"create user {username!r}",
    )


def grant_permission(
    url: str,
    granter: str,
    granter_password: str,
    username: str,
    name: str,
    permission: str,
    *,
    model: bool = False,
) -> None:
    """Give ``username`` a permission on an experiment or a registered model (by name).

    Args:
        url: the tracking server.
        granter: a user with MANAGE on the resource (its creator has it) or an admin.
        granter_password: that user's password.
        username: who receives the permission.
        name: experiment name, or registered model name with ``model=True``.
        permission: READ, USE, EDIT, MANAGE or NO_PERMISSIONS.
        model: ``name`` is a registered model, not an experiment.
    """
    permission = permission.upper()
    if permission not in PERMISSIONS:
        raise ConfigError(
            f"permission {permission!r} is invalid; use one of {', '.join(PERMISSIONS)}"
        )
    quoted = urllib.parse.quote(name)
    if model:
        kind, resource_type = "registered model", "registered_model"
        # Checked first: the grant itself would accept a name that does not exist.
        _auth_call(
            url,
            granter,
            granter_password,
            f"/api/2.0/mlflow/registered-models/get?name={quoted}",
            "GET",
            None,
            f"read registered model {name!r}",
        )
        resource_id = name
    else:
        kind, resource_type = "experiment", "experiment"
        found = _auth_call(
            url,
            granter,
            granter_password,
            f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={quoted}",
            "GET",
            None,
            f"read experiment {name!r}",
        )
        resource_id = found["experiment"]["experiment_id"]
    _auth_call(
        url,
        granter,
        granter_password,
        "/api/3.0/mlflow/users/permissions/grant",
        "POST",
        {
            "username": username,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "permission": permission,
        },
        f"grant {permission} on {kind} {name!r}",
    )
