"""Team-server URIs: the scheme, a sqlite file, ports (passwords: :mod:`mltrack.uris`)."""

from __future__ import annotations

import socket
from pathlib import Path

_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")

_REMOTE_ARTIFACT_SCHEMES = ("s3", "gs", "wasbs", "hdfs", "sftp", "ftp", "abfss", "oss")

_ANY_INTERFACE = ("0.0.0.0", "", "::")


def _scheme(uri: str) -> str:
    return uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""


def _sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///path`` URI (None for in-memory or non-sqlite URIs)."""
    if _scheme(uri) != "sqlite":
        return None
    path = uri.split(":///", 1)[1] if ":///" in uri else ""
    if not path or path == ":memory:":
        return None
    return Path(path)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
