"""LLM call tracking on MLflow tracing: tokens, cost, latency and budgets.

``@track_llm`` (or ``with track_llm(...)``) records every OpenAI and Anthropic client call
made inside it as an LLM span in an MLflow trace, prices it with MLflow's own catalog
(or a price from ``llm.prices`` in ``.mltrack.yml``), adds the totals to the run's
``llm.*`` metrics, and enforces a budget. ``ml llm report`` summarises the cost of an
experiment from its traces. See the guide "LLM tracking".

Importing this package does not import MLflow; the first tracked scope does.
"""

from __future__ import annotations

from mltrack.errors import BudgetExceeded
from mltrack.llm._pricing import (
    CostResult,
    NoUsageWarning,
    UnknownModelPriceWarning,
    compute_cost,
)
from mltrack.llm._scopes import BudgetWarning, LLMCall, LLMTracker, run_totals
from mltrack.llm._tracker import flush_metrics, track_llm

__all__ = [
    "BudgetExceeded",
    "BudgetWarning",
    "CostResult",
    "LLMCall",
    "LLMTracker",
    "NoUsageWarning",
    "UnknownModelPriceWarning",
    "compute_cost",
    "flush_metrics",
    "run_totals",
    "track_llm",
]
