"""Which ``mltrack.run`` / ``@mltrack.track`` run is open in this context.

A module of its own so that the metric logger (which logs to the current run) and the
LLM tracker can ask without importing :mod:`mltrack.tracking`, which imports them.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from mltrack.tracking import RunHandle

__all__ = ["current_run", "enter_run", "leave_run"]

_current: contextvars.ContextVar[RunHandle | None] = contextvars.ContextVar(
    "mltrack_run", default=None
)


def current_run() -> RunHandle | None:
    """The innermost run opened by ``mltrack.run`` or ``@track`` in this context, if any."""
    return _current.get()


def enter_run(handle: RunHandle) -> contextvars.Token[RunHandle | None]:
    """Make ``handle`` the current run; pass the token to :func:`leave_run`."""
    return _current.set(handle)


def leave_run(token: contextvars.Token[RunHandle | None]) -> None:
    """Restore the run that was current before :func:`enter_run`."""
    _current.reset(token)
