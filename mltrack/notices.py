"""One-line notices on stderr: what mltrack tells a person while their code runs.

Not :func:`warnings.warn`: its format points into mltrack's (or contextlib's) source,
echoes a line of it, and a warnings filter or a test runner can swallow it. A notice is
one line, prefixed ``mltrack:``, whitespace folded.
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["notice", "notice_once"]

_SEEN: set[str] = set()


def notice(message: str) -> None:
    """Print ``mltrack: message`` on one line of stderr."""
    line = " ".join(message.split())
    # stderr may be closed already (interpreter exit, a daemon): nothing to report to then.
    with contextlib.suppress(OSError, ValueError):
        print(f"mltrack: {line}", file=sys.stderr, flush=True)


def notice_once(message: str) -> None:
    """:func:`notice`, once per process for the same message."""
    if message not in _SEEN:
        _SEEN.add(message)
        notice(message)
