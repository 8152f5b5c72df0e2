"""The live docs engine: execute every example, notebook and CLI capture the docs embed.

The engine knows nothing of MkDocs (only :mod:`mltrack.livedocs.plugin` does):

* :func:`~mltrack.livedocs.plan.build_plan` reads pages, finds ``livedocs`` directives and
  computes a cache key per item;
* :class:`~mltrack.livedocs.runner.Runner` runs the items that are not cached against ONE
  throwaway MLflow server, in parallel worker processes with timeouts;
* :func:`~mltrack.livedocs.render.render_directive` turns results into ``Code | Output`` tabs.

:class:`LiveDocsEngine` bundles the three; ``ml docs run`` and ``ml docs check`` use it.
"""

from __future__ import annotations

from mltrack.livedocs.directives import Directive, find_directives

# The engine's own helpers stay importable from here; they are not public API.
from mltrack.livedocs.engine import (  # noqa: F401
    LiveDocsEngine,
    config_from_settings,
    no_cache_requested,
)
from mltrack.livedocs.model import EngineConfig, ErrorInfo, Item, ItemResult, Plan
from mltrack.livedocs.runner import BuildReport, Runner, format_failure  # noqa: F401

__all__ = [
    "BuildReport",
    "Directive",
    "EngineConfig",
    "ErrorInfo",
    "Item",
    "ItemResult",
    "LiveDocsEngine",
    "Plan",
    "Runner",
    "find_directives",
]
