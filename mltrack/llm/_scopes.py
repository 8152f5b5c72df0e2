"""LLM scopes and totals: the state both the span processor and ``track_llm`` use.

:mod:`mltrack.llm._instrument` (MLflow's span processor, the budget gate) records each
finished call here; :mod:`mltrack.llm._tracker` (``track_llm``) opens and closes the
scopes and sends the run totals. Neither imports the other for this state, so each
imports this module at its top. Importing it imports neither MLflow nor the vendors.
"""

from __future__ import annotations

import contextvars
import re
import statistics
import threading
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mltrack.errors import BudgetExceeded
from mltrack.llm._pricing import queue_warning

if TYPE_CHECKING:
    from mltrack.config import Settings

__all__ = [
    "ACTIVE",
    "BudgetWarning",
    "LLMCall",
    "LLMTracker",
    "RUN_TOTALS",
    "Scope",
    "active_scopes",
    "check_budgets",
    "record_call",
    "run_totals",
    "runs_lock",
]


class BudgetWarning(UserWarning):
    """An LLM budget reached its warning threshold, or was exceeded in ``warn`` mode."""


@dataclass(frozen=True)
class LLMCall:
    """One LLM request as recorded by mltrack.

    Attributes:
        model: model name reported by the response (or the request).
        provider: ``openai``, ``anthropic``, ... (``mlflow.llm.provider`` or the wire format).
        input_tokens: prompt tokens, cached ones included.
        output_tokens: completion tokens.
        cached_input_tokens: prompt tokens served from the provider's cache.
        cost_usd: cost in US dollars; ``None`` when the model has no known price.
        price_source: ``mlflow-catalog``, ``mltrack-config``, ``unknown`` or ``no-usage``.
        latency_ms: time from request to the end of the response (stream included).
        start_time: request time, seconds since the epoch.
        trace_id: MLflow trace holding the call's span.
        span_id: the call's span.
    """

    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: float | None
    price_source: str
    latency_ms: float
    start_time: float
    trace_id: str
    span_id: str

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


@dataclass
class _Totals:
    """Sums over a list of calls."""

    calls: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, call: LLMCall) -> None:
        self.calls += 1
        if call.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += call.cost_usd
        self.input_tokens += call.input_tokens
        self.output_tokens += call.output_tokens
        self.cached_input_tokens += call.cached_input_tokens
        self.latencies_ms.append(call.latency_ms)

    @property
    def latency_p50_ms(self) -> float | None:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None


class LLMTracker:
    """A budget scope and the calls recorded in it.

    Returned by ``with track_llm(...) as tracker``. A decorated function has one too,
    spanning every call of that function in this process: ``func.llm_tracker()``
    returns it.

    Attributes:
        name: scope name (the function name for the decorator).
        budget_usd: spending limit, or ``None``.
        warn_at: fraction of the budget at which one :class:`BudgetWarning` is emitted.
        on_budget_exceeded: ``raise`` (:class:`~mltrack.errors.BudgetExceeded` before the next
            call) or ``warn``.
        settings: the settings in effect for this scope.
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        budget_usd: float | None = None,
        warn_at: float | None = None,
        on_budget_exceeded: str | None = None,
        redact_prompts: bool | None = None,
    ) -> None:
        llm = settings.llm
        self.name = name
        self.settings = settings
        self.budget_usd = budget_usd if budget_usd is not None else llm.budget_usd
        self.warn_at = warn_at if warn_at is not None else llm.warn_at
        self.on_budget_exceeded = on_budget_exceeded or llm.on_budget_exceeded
        if self.on_budget_exceeded not in ("raise", "warn"):
            raise ValueError(
                f"on_budget_exceeded must be 'raise' or 'warn', not {self.on_budget_exceeded!r}"
            )
        self.redact_prompts = llm.redact_prompts if redact_prompts is None else redact_prompts
        self._lock = threading.Lock()
        self._calls: list[LLMCall] = []
        self._totals = _Totals()
        self._warned_threshold = False
        self._warned_exceeded = False

    # ---- results
    @property
    def calls(self) -> list[LLMCall]:
        """Every call recorded in this scope, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def cost_usd(self) -> float:
        """Total known cost in US dollars (calls without a price are not in it)."""
        return self._totals.cost_usd

    @property
    def cost_complete(self) -> bool:
        """False when some call had no known price (see :attr:`unpriced_calls`)."""
        return self._totals.unpriced_calls == 0

    @property
    def unpriced_calls(self) -> int:
        """Calls whose cost is unknown (no price, or no usage in the response)."""
        return self._totals.unpriced_calls

    @property
    def tokens_input(self) -> int:
        """Input (prompt) tokens, cached ones included."""
        return self._totals.input_tokens

    @property
    def tokens_output(self) -> int:
        """Output (completion) tokens."""
        return self._totals.output_tokens

    @property
    def latency_p50_ms(self) -> float | None:
        """Median call latency in milliseconds."""
        with self._lock:
            return self._totals.latency_p50_ms

    @property
    def budget_left_usd(self) -> float | None:
        """Budget minus known cost; ``None`` without a budget."""
        return None if self.budget_usd is None else self.budget_usd - self.cost_usd

    def summary(self) -> dict[str, Any]:
        """Totals, plus ``by_model`` and ``by_provider`` breakdowns (JSON-serialisable)."""
        calls = self.calls
        return {
            "name": self.name,
            **_summarize(calls),
            "budget_usd": self.budget_usd,
            "by_model": {
                m: _summarize([c for c in calls if c.model == m])
                for m in _ordered(c.model for c in calls)
            },
            "by_provider": {
                p: _summarize([c for c in calls if c.provider == p])
                for p in _ordered(c.provider for c in calls)
            },
        }

    # ---- budget
    def _add(self, call: LLMCall) -> None:
        with self._lock:
            self._calls.append(call)
            self._totals.add(call)
            spent = self._totals.cost_usd
        budget = self.budget_usd
        if (
            budget is None
            or self._warned_threshold
            or spent < self.warn_at * budget
            or spent >= budget
        ):
            return
        self._warned_threshold = True
        # Queued: this runs inside MLflow's autolog patch, which would swallow a warning.
        queue_warning(
            f"mltrack: LLM budget '{self.name}' is {spent / budget:.0%} spent "
            f"(${spent:.6f} of ${budget:.6f})",
            BudgetWarning,
        )

    def check_budget(self) -> None:
        """Raise :class:`~mltrack.errors.BudgetExceeded` (or warn) when the budget is spent."""
        budget = self.budget_usd
        if budget is None or self._totals.cost_usd < budget:
            return
        spent = self._totals.cost_usd
        message = (
            f"LLM budget '{self.name}' is spent: ${spent:.6f} of ${budget:.6f} over "
            f"{self._totals.calls} calls; raise budget_usd (decorator argument or llm.budget_usd "
            f"in .mltrack.yml) or set llm.on_budget_exceeded: warn"
        )
        if self.on_budget_exceeded == "raise":
            raise BudgetExceeded(message)
        if not self._warned_exceeded:
            self._warned_exceeded = True
            warnings.warn("mltrack: " + message, BudgetWarning, stacklevel=3)

    def __repr__(self) -> str:
        return (
            f"LLMTracker(name={self.name!r}, calls={self._totals.calls}, cost_usd={self.cost_usd:.6f}, "
            f"budget_usd={self.budget_usd})"
        )


def _ordered(values: Any) -> list[str]:
    return list(dict.fromkeys(values))


def _summarize(calls: list[LLMCall]) -> dict[str, Any]:
    totals = _Totals()
    for call in calls:
        totals.add(call)
    known = totals.unpriced_calls < totals.calls or totals.calls == 0
    return {
        "calls": totals.calls,
        "cost_usd": totals.cost_usd if known else None,
        "unpriced_calls": totals.unpriced_calls,
        "tokens_input": totals.input_tokens,
        "tokens_output": totals.output_tokens,
        "tokens_cached": totals.cached_input_tokens,
        "latency_p50_ms": totals.latency_p50_ms,
    }


# --------------------------------------------------------------------------- per-run totals


class _RunTotals:
    def __init__(self, tracking_uri: str | None) -> None:
        self.tracking_uri = tracking_uri  # where the run lives (None: MLflow's current URI)
        self.all = _Totals()
        self.by_model: dict[str, _Totals] = {}
        self.by_provider: dict[str, _Totals] = {}
        self.dirty = False

    def add(self, call: LLMCall) -> None:
        self.all.add(call)
        self.by_model.setdefault(call.model, _Totals()).add(call)
        self.by_provider.setdefault(call.provider, _Totals()).add(call)
        self.dirty = True

    def metrics(self) -> dict[str, float]:
        out = _metrics("llm.", self.all)
        if self.all.cached_input_tokens:
            out["llm.tokens.cached"] = float(self.all.cached_input_tokens)
        out["llm.calls_unpriced"] = float(self.all.unpriced_calls)
        for model, totals in self.by_model.items():
            out.update(_metrics(f"llm.by_model.{_metric_safe(model)}.", totals, brief=True))
        for provider, totals in self.by_provider.items():
            out.update(_metrics(f"llm.by_provider.{_metric_safe(provider)}.", totals, brief=True))
        return out


_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /:]")


def _metric_safe(name: str) -> str:
    return _METRIC_UNSAFE.sub("_", name)[:200]


def _metrics(prefix: str, t: _Totals, brief: bool = False) -> dict[str, float]:
    out = {
        prefix + "calls": float(t.calls),
        prefix + "tokens.input": float(t.input_tokens),
        prefix + "tokens.output": float(t.output_tokens),
    }
    if t.unpriced_calls < t.calls:  # no cost metric at all rather than a silent 0
        out[prefix + "cost_usd"] = t.cost_usd
    if not brief and (p50 := t.latency_p50_ms) is not None:
        out[prefix + "latency_p50_ms"] = p50
    return out


#: Guards :data:`RUN_TOTALS` (calls end on MLflow's threads, flushes run on mltrack's).
runs_lock = threading.Lock()
RUN_TOTALS: dict[str, _RunTotals] = {}


def run_totals(run_id: str) -> dict[str, float]:
    """The ``llm.*`` metrics mltrack holds for ``run_id`` in this process (empty if none)."""
    with runs_lock:
        totals = RUN_TOTALS.get(run_id)
        return totals.metrics() if totals else {}


# --------------------------------------------------------------------------- scopes


@dataclass
class Scope:
    """One active ``track_llm`` scope: its tracker and the run its calls add up in."""

    tracker: LLMTracker
    run_id: str | None
    tracking_uri: str | None = None


#: The scopes active in this context, outermost first.
ACTIVE: contextvars.ContextVar[tuple[Scope, ...]] = contextvars.ContextVar(
    "mltrack_llm_scopes", default=()
)


def active_scopes() -> tuple[Scope, ...]:
    """The ``track_llm`` scopes active in this context, outermost first."""
    return ACTIVE.get()


def check_budgets() -> None:
    """Called before every LLM request: enforce the budget of each active scope."""
    for scope in ACTIVE.get():
        scope.tracker.check_budget()


def record_call(scopes: tuple[Scope, ...], call: LLMCall) -> None:
    """Add a finished call to its scopes (each tracker once) and to its run's totals."""
    seen: set[int] = set()
    for scope in scopes:
        if id(scope.tracker) not in seen:
            seen.add(id(scope.tracker))
            scope.tracker._add(call)
    run_id = scopes[-1].run_id if scopes else None
    if run_id is not None:
        with runs_lock:
            totals = RUN_TOTALS.get(run_id)
            if totals is None:
                totals = RUN_TOTALS[run_id] = _RunTotals(scopes[-1].tracking_uri)
            totals.add(call)
