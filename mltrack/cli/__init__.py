"""The ``ml`` command line.

Each command group lives in its own module and registers itself on :data:`app`; heavy
imports (mlflow, sklearn, fastapi) happen inside the commands so ``ml --help`` is fast.
User errors (:class:`~mltrack.errors.MltrackError`) print one line and exit with code 2;
``--debug`` or ``MLTRACK_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

# Importing a module registers its commands on `app`.
from mltrack.cli import core, docs, llm, registry, server, ship  # noqa: E402,F401
from mltrack.cli._app import app, main

__all__ = ["app", "main"]
