"""URIs that may carry credentials (``http://user:password@host``, ``postgresql://…``).

MLflow accepts a user and password inside the tracking URI, and a database URI holds
them as a matter of course. Neither may reach a message, a log or a file: everything
that shows or stores such a URI goes through here. Only the standard library is used
(the spool and the CLI's error path import this before anything heavy).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "redact_uri",
    "redact_urls",
    "repr_without_passwords",
    "stdout_without_passwords",
    "strip_userinfo",
]

_T = TypeVar("_T", bound=type)

#: ``scheme://user:password@`` inside any text (a password never holds ``@``, ``/`` or a
#: space once it is in a URI: those are percent-encoded).
_USERINFO = re.compile(r"(?P<start>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]*):[^\s/@]*@")


def redact_uri(uri: str) -> str:
    """Hide the password in a URI: ``postgresql://bob:***@db/mlflow``."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{_host(parts)}" if parts.username else f"***@{_host(parts)}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it hidden (an error of a library that
    quotes the URL it called): ``http://bob:***@host/api``."""
    return _USERINFO.sub(r"\g<start>:***@", text)


def repr_without_passwords(cls: _T) -> _T:
    """Class decorator (above ``@dataclass``): its repr and str hide the password of every
    URL in them, so that a notebook showing the object, or a failed assertion, does not."""
    for name in ("__repr__", "__str__"):
        plain = getattr(cls, name)
        if plain is not getattr(object, name):  # object's str() is the repr, wrapped already
            setattr(cls, name, _redacting(plain))
    return cls


def _redacting(method: Callable[[Any], str]) -> Callable[[Any], str]:
    def redacted(self: Any) -> str:
        return redact_urls(method(self))

    return redacted


@contextlib.contextmanager
def stdout_without_passwords(uri: str) -> Iterator[None]:
    """What is printed meanwhile goes out with URL passwords hidden, when ``uri`` has one.

    MLflow prints a run's links when it ends the run (``🏃 View run … at: URL``), built
    from the tracking URI, password included. Nothing changes for a URI without one.
    """
    if strip_userinfo(uri)[2] is None:
        yield
        return
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        sys.stdout.write(redact_urls(printed.getvalue()))


def strip_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Split ``http://user:password@host`` into the bare URL, user and password.

    MLflow's client (requests) accepts credentials inside the tracking URI; urllib does not.
    The bare URL is also what names a server in messages and on disk.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    bare = urllib.parse.urlunsplit(parts._replace(netloc=_host(parts)))
    unquote = urllib.parse.unquote
    password = unquote(parts.password) if parts.password is not None else None
    return bare, unquote(parts.username or ""), password


def _host(parts: urllib.parse.SplitResult) -> str:
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host
