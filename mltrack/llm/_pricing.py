"""LLM call cost: MLflow's own price catalog, plus overrides from ``.mltrack.yml``.

mltrack has no price table of its own. A model's price comes from, in order:

1. ``llm.prices`` in the settings (private or fine-tuned models, or to correct a price);
2. MLflow's cost computation (:func:`mlflow.tracing.utils.calculate_cost_by_model_and_token_usage`,
   backed by the catalog in :mod:`mlflow.utils.providers`), the very function the MLflow
   server applies to stored spans;
3. otherwise the cost is *unknown*: recorded as such, with one warning per model.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from mltrack.config import ModelPrice

__all__ = [
    "CostResult",
    "NoUsageWarning",
    "UnknownModelPriceWarning",
    "compute_cost",
    "use_bundled_catalog",
]

PRICE_SOURCE_OVERRIDE = "mltrack-config"
PRICE_SOURCE_CATALOG = "mlflow-catalog"
PRICE_SOURCE_UNKNOWN = "unknown"


class UnknownModelPriceWarning(UserWarning):
    """A model has no price in MLflow's catalog nor in ``llm.prices``; its cost is unknown."""


class NoUsageWarning(UserWarning):
    """An LLM response reported no token usage, so neither tokens nor cost are known."""


@dataclass(frozen=True)
class CostResult:
    """The cost of one call, in US dollars.

    Attributes:
        cost: ``{"input_cost", "output_cost", "total_cost"}`` (MLflow's ``mlflow.llm.cost``
            layout), or ``None`` when the price is unknown.
        source: ``mltrack-config``, ``mlflow-catalog`` or ``unknown``.
    """

    cost: dict[str, float] | None
    source: str

    @property
    def total(self) -> float | None:
        """Total cost, ``None`` when unknown."""
        return None if self.cost is None else self.cost["total_cost"]


_warned_lock = threading.Lock()
_warned: set[tuple[str, str]] = set()
_pending: list[tuple[str, type[Warning]]] = []


def warn_once(kind: str, key: str, message: str, category: type[Warning]) -> None:
    """Queue ``message`` (at most once per process for (kind, key)) for :func:`emit_warnings`.

    Spans of MLflow's autologging end inside its patched functions, which reroute
    warnings to MLflow's event logger (silenced); so warnings are queued there and
    emitted from mltrack's own wrapper, after the client call returns.
    """
    with _warned_lock:
        if (kind, key) in _warned:
            return
        _warned.add((kind, key))
        _pending.append((message, category))


def queue_warning(message: str, category: type[Warning]) -> None:
    """Queue a warning for :func:`emit_warnings` (see :func:`warn_once` for why)."""
    with _warned_lock:
        _pending.append((message, category))


def emit_warnings(stacklevel: int = 2) -> None:
    """Emit the queued warnings, attributed to the caller's caller by default."""
    if not _pending:
        return
    with _warned_lock:
        queued = list(_pending)
        _pending.clear()
    for message, category in queued:
        warnings.warn(message, category, stacklevel=stacklevel + 1)


def use_bundled_catalog(remote: bool) -> None:
    """Keep MLflow on the price catalog shipped with the installed MLflow.

    MLflow otherwise first downloads the latest catalog from GitHub, which offline costs
    several seconds per provider (then fails) and makes costs depend on the day. A
    ``MLFLOW_MODEL_CATALOG_URI`` set by the user always wins.
    """
    if not remote:
        os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")


def _override_for(model: str, prices: dict[str, ModelPrice]) -> ModelPrice | None:
    if not prices:
        return None
    return prices.get(model) or prices.get(model.split("/", 1)[-1])


def _override_cost(price: ModelPrice, usage: dict[str, Any]) -> dict[str, float]:
    # Same convention as MLflow: input_tokens includes cached tokens, which may be cheaper.
    input_tokens = int(usage.get("input_tokens") or 0)
    cached = min(int(usage.get("cache_read_input_tokens") or 0), input_tokens)
    cached_rate = price.cached_input_per_million
    if cached_rate is None:
        cached_rate = price.input_per_million
    input_cost = ((input_tokens - cached) * price.input_per_million + cached * cached_rate) / 1e6
    output_cost = int(usage.get("output_tokens") or 0) * price.output_per_million / 1e6
    return {
        "input_cost": input_cost,
        "output_cost": output_cost,
        "total_cost": input_cost + output_cost,
    }


def compute_cost(
    model: str | None,
    usage: dict[str, Any] | None,
    provider: str | None,
    prices: dict[str, ModelPrice],
) -> CostResult:
    """Price one call from its model name and MLflow token usage dict.

    Args:
        model: model name as recorded on the span (``mlflow.llm.model``).
        usage: MLflow token usage (``input_tokens``, ``output_tokens``, cache keys).
        provider: ``mlflow.llm.provider`` of the span, passed to MLflow as a lookup hint.
        prices: ``llm.prices`` overrides.
    """
    if not model or not usage:
        return CostResult(None, PRICE_SOURCE_UNKNOWN)
    override = _override_for(model, prices)
    if override is not None:
        return CostResult(_override_cost(override, usage), PRICE_SOURCE_OVERRIDE)
    from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage

    cost = calculate_cost_by_model_and_token_usage(model, usage, provider)
    if cost is None:
        if int(usage.get("input_tokens") or 0) == 0 and int(usage.get("output_tokens") or 0) == 0:
            return CostResult({"input_cost": 0.0, "output_cost": 0.0, "total_cost": 0.0}, "empty")
        return CostResult(None, PRICE_SOURCE_UNKNOWN)
    return CostResult({k: float(v) for k, v in cost.items()}, PRICE_SOURCE_CATALOG)


def unknown_model_message(model: str) -> str:
    """The one-line warning for a model without a price."""
    return (
        f"mltrack: no price known for LLM model '{model}' (not in MLflow's price catalog); "
        f"its cost is recorded as unknown, not 0. Set one in .mltrack.yml: "
        f"llm: {{prices: {{'{model}': {{input_per_million: ..., output_per_million: ...}}}}}}"
    )
