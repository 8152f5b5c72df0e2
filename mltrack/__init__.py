"""mltrack: MLflow, made pleasant.

The public API is loaded lazily so that ``import mltrack`` (and the ``ml`` CLI) stays
fast; MLflow itself is imported on first use.

Examples:
    >>> import mltrack
    >>> @mltrack.track
    ... def train(lr: float = 0.1) -> dict[str, float]:
    ...     return {"accuracy": 0.9}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "track": "mltrack.tracking",
    "run": "mltrack.tracking",
    "get_run": "mltrack.tracking",
    "get_last_run": "mltrack.tracking",
    "RunInfo": "mltrack.tracking",
    "log_metric": "mltrack.logging",
    "log_metrics": "mltrack.logging",
    "flush": "mltrack.logging",
    "track_llm": "mltrack.llm",
    "save": "mltrack.registry",
    "promote": "mltrack.registry",
    "model_card": "mltrack.cards",
    "compare_runs": "mltrack.insights",
    "compare_models": "mltrack.insights",
    "ship": "mltrack.deploy",
    "load_settings": "mltrack.config",
    "Settings": "mltrack.config",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mltrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    # ruff: noqa: F401
    from mltrack.config import Settings, load_settings
    from mltrack.logging import flush, log_metric, log_metrics
    from mltrack.tracking import RunInfo, get_last_run, get_run, run, track
