"""``track_llm``: the decorator/context manager, its runs, and sending the run totals.

The scopes, trackers and totals themselves live in :mod:`mltrack.llm._scopes`, shared
with the span processor in :mod:`mltrack.llm._instrument`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from mltrack.llm._instrument import ensure_instrumented
from mltrack.llm._pricing import emit_warnings
from mltrack.llm._scopes import ACTIVE, RUN_TOTALS, LLMTracker, Scope, runs_lock

if TYPE_CHECKING:
    from mltrack.config import Settings

__all__ = ["flush_metrics", "log_run_totals", "track_llm"]

F = TypeVar("F", bound=Callable[..., Any])


_cost_status: dict[str, str] = {}
_FLUSH_INTERVAL_S = 1.0
#: Held while a run's totals are taken and queued, so that a flush knows they are queued.
_queue_lock = threading.RLock()
_flusher: threading.Thread | None = None


def flush_metrics() -> None:
    """Send the ``llm.*`` totals of every run now (they are otherwise sent in the background).

    A run that ``track_llm``, ``mltrack.run`` or ``@mltrack.track`` started gets its
    totals when it ends. Inside a run started with plain ``mlflow.start_run``, totals
    are sent at most once a second and at interpreter exit; call this before reading
    them back in the same process.
    """
    with runs_lock:
        dirty = [run_id for run_id, totals in RUN_TOTALS.items() if totals.dirty]
        uris = {totals.tracking_uri for totals in RUN_TOTALS.values()}
    for run_id in dirty:
        _flush_run_metrics(run_id, synchronous=False)
    # The background flush may have taken a run's totals just before us: they are queued
    # (or being queued: the lock) but maybe not sent. Wait for every run's logger.
    from mltrack.logging import get_logger

    with _queue_lock:
        pass
    for uri in uris:
        get_logger(uri).flush()


def log_run_totals(run_id: str, tracking_uri: str | None = None) -> None:
    """Queue the run's ``llm.*`` totals, if any changed, on mltrack's buffered logger.

    Called by ``mltrack.run`` as the run ends, before it flushes the logger: the totals
    reach the server (or the spool) with the run's other values, before its status.
    """
    _flush_run_metrics(run_id, synchronous=False, tracking_uri=tracking_uri)


def _flush_all_dirty() -> None:
    with contextlib.suppress(Exception):  # server gone or run deleted: best effort
        flush_metrics()


def _flush_loop() -> None:
    while True:
        time.sleep(_FLUSH_INTERVAL_S)
        _flush_all_dirty()


def _ensure_flusher() -> None:
    """Send run totals from a background thread, at most once a second, and at exit.

    Keeps metric requests off the tracked call's path: a run inside which thousands of
    calls are made gets a few ``log_batch`` requests, not thousands.
    """
    global _flusher
    if _flusher is not None:
        return
    with runs_lock:
        if _flusher is not None:
            return
        import atexit

        # Imported before the hook is registered: exit hooks run last-in first-out, so the
        # totals are queued before the logger's own hook sends what is queued.
        import mltrack.logging  # noqa: F401

        _flusher = threading.Thread(target=_flush_loop, name="mltrack-llm-metrics", daemon=True)
        _flusher.start()
        atexit.register(_flush_all_dirty)


def _flush_run_metrics(run_id: str, synchronous: bool, tracking_uri: str | None = None) -> None:
    """Queue the run's ``llm.*`` totals on the buffered logger; wait for them if ``synchronous``.

    mltrack's logger, not MLflow's ``log_batch``: the totals share the batches, the
    spool (an outage loses nothing) and the flush that ends a run with the other values.
    """
    from mltrack.logging import get_logger
    from mltrack.spool import SpoolBatch

    with _queue_lock:
        with runs_lock:
            totals = RUN_TOTALS.get(run_id)
            if totals is None or not totals.dirty:
                return
            totals.dirty = False
            metrics = totals.metrics()
            step = totals.all.calls
            unpriced = totals.all.unpriced_calls
            uri = totals.tracking_uri or tracking_uri
        logger = get_logger(uri)
        now = int(time.time() * 1000)
        for key, value in metrics.items():
            logger.log(run_id, key, value, step, now)
        status = (
            "complete" if unpriced == 0 else f"partial: {unpriced} call(s) without a known price"
        )
        if _cost_status.get(run_id) != status:
            _cost_status[run_id] = status
            # Sent (or spooled) now: a tag changes once or twice per run.
            logger._send_or_spool(SpoolBatch(run_id, tags=[("mltrack.llm.cost_status", status)]))
    if synchronous:
        logger.flush()


class _Activation:
    """One entry into a tracker: run handling, root span, context variable."""

    def __init__(self, tracker: LLMTracker, start_run: bool, inputs: Any = None) -> None:
        self.tracker = tracker
        self.start_run = start_run
        self.inputs = inputs
        self._token: contextvars.Token[tuple[Scope, ...]] | None = None
        self._span_cm: Any = None
        self._span: Any = None
        self._own_run = False
        self.run_id: str | None = None

    def enter(self) -> None:
        import mlflow

        ensure_instrumented(self.tracker.settings)
        _setup_tracking(self.tracker.settings)
        active = mlflow.active_run()
        tracking_uri: str | None = None
        handle = _mltrack_run()
        if handle is not None and handle.offline:
            # A run spooled while the server is away: its totals are spooled with it.
            self.run_id, tracking_uri = handle.id, handle.tracking_uri
        elif active is not None:
            self.run_id = active.info.run_id
            tracking_uri = mlflow.get_tracking_uri()
        else:
            _use_configured_experiment(self.tracker.settings)
        if self.run_id is None and self.start_run:
            run = mlflow.start_run(
                run_name=self.tracker.name, tags={"mltrack.llm.scope": self.tracker.name}
            )
            self.run_id = run.info.run_id
            tracking_uri = mlflow.get_tracking_uri()
            self._own_run = True
        from mlflow.entities import SpanType

        self._span_cm = mlflow.start_span(name=self.tracker.name, span_type=SpanType.CHAIN)
        self._span = self._span_cm.__enter__()
        if self.inputs is not None and not self.tracker.redact_prompts:
            self._span.set_inputs(self.inputs)
        self._span.set_attribute("mltrack.llm.scope", self.tracker.name)
        self._token = ACTIVE.set((*ACTIVE.get(), Scope(self.tracker, self.run_id, tracking_uri)))

    def exit(self, exc: BaseException | None, outputs: Any = None) -> None:
        import mlflow

        emit_warnings(stacklevel=4)
        if self._token is not None:
            ACTIVE.reset(self._token)
            self._token = None
        try:
            if self._span_cm is not None:
                if outputs is not None and not self.tracker.redact_prompts:
                    self._span.set_outputs(outputs)
                exc_info = (
                    (type(exc), exc, exc.__traceback__) if exc is not None else (None, None, None)
                )
                self._span_cm.__exit__(*exc_info)
        finally:
            if self.run_id is not None:
                if self._own_run:  # the run ends now: its totals must be complete
                    _flush_run_metrics(self.run_id, synchronous=True)
                else:
                    _ensure_flusher()
            if self._own_run:
                status = (
                    "FINISHED"
                    if exc is None
                    else ("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
                )
                from mltrack.uris import stdout_without_passwords

                # MLflow prints the run's links, the tracking URI's password in them.
                with stdout_without_passwords(mlflow.get_tracking_uri()):
                    mlflow.end_run(status=status)


def _mltrack_run() -> Any:
    """The innermost ``mltrack.run`` / ``@mltrack.track`` run of this context, if any."""
    from mltrack.run_context import current_run

    return current_run()


#: Set when the first tracked call met a run the caller started with MLflow itself.
_store_pinned = False


def _setup_tracking(settings: Settings) -> None:
    """Point MLflow at mltrack's tracking store (:mod:`mltrack.store` decides which)."""
    global _store_pinned
    import mlflow

    if _store_pinned or (mlflow.active_run() is not None and not _mltrack_run()):
        # The caller chose where runs go (MLflow's own default, maybe): switching stores
        # would orphan their run and the ones they read back later.
        _store_pinned = True
        return
    from mltrack.store import tracking_store

    tracking_store(settings)


_experiment_ids: dict[str, str] = {}


def _use_configured_experiment(settings: Settings) -> None:
    """Make ``experiment`` from the settings the active one, as ``mltrack.run`` does."""
    import mlflow
    from mlflow.tracking import fluent

    name = settings.experiment
    if not name:
        return
    known = _experiment_ids.get(name)
    if known is not None and fluent._active_experiment_id == known:
        return  # already active: skip the server round trip
    _experiment_ids[name] = mlflow.set_experiment(name).experiment_id


# --------------------------------------------------------------------------- public API


class _TrackLLM:
    """What ``track_llm(...)`` returns: a decorator and a context manager."""

    def __init__(self, name: str | None, start_run: bool | None, options: dict[str, Any]) -> None:
        self.name = name
        self.start_run = start_run
        self.options = options
        self._activations: list[_Activation] = []

    def _new_tracker(self, name: str) -> LLMTracker:
        from mltrack.config import load_settings

        return LLMTracker(name, load_settings(), **self.options)

    def _start_run(self, tracker: LLMTracker) -> bool:
        return self.start_run if self.start_run is not None else tracker.settings.llm.start_run

    # ---- context manager
    def __enter__(self) -> LLMTracker:
        tracker = self._new_tracker(self.name or "llm")
        activation = _Activation(tracker, self._start_run(tracker))
        activation.enter()
        self._activations.append(activation)
        return tracker

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._activations.pop().exit(exc)

    async def __aenter__(self) -> LLMTracker:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # ---- decorator
    def __call__(self, func: F) -> F:
        return _decorate(func, self)


def _signature_of(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # builtins and some C callables have none
        return None


def _inputs_of(
    signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    if signature is None:
        return {"args": list(args), **kwargs}
    try:
        bound = signature.bind_partial(*args, **kwargs).arguments
    except TypeError:
        return {"args": list(args), **kwargs}
    bound.pop("self", None)
    return dict(bound)


def _decorate(func: F, options: _TrackLLM) -> F:
    name = options.name or func.__name__
    # Once, not per call: inspect.signature is the costliest step of the wrapper itself.
    signature = _signature_of(func)
    lock = threading.Lock()
    holder: list[LLMTracker] = []

    def tracker() -> LLMTracker:
        # Created on first call: settings are read then, not at import time.
        with lock:
            if not holder:
                holder.append(options._new_tracker(name))
            return holder[0]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            t = tracker()
            activation = _Activation(t, options._start_run(t), _inputs_of(signature, args, kwargs))
            activation.enter()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                activation.exit(exc)
                raise
            activation.exit(None, result)
            return result

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            t = tracker()
            activation = _Activation(t, options._start_run(t), _inputs_of(signature, args, kwargs))
            activation.enter()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                activation.exit(exc)
                raise
            activation.exit(None, result)
            return result

        wrapper = sync_wrapper

    wrapper.llm_tracker = tracker
    return wrapper


@overload
def track_llm(func: F, /) -> F: ...


@overload
def track_llm(
    func: None = None,
    /,
    *,
    name: str | None = None,
    budget_usd: float | None = None,
    warn_at: float | None = None,
    on_budget_exceeded: str | None = None,
    redact_prompts: bool | None = None,
    start_run: bool | None = None,
) -> _TrackLLM: ...


def track_llm(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    budget_usd: float | None = None,
    warn_at: float | None = None,
    on_budget_exceeded: str | None = None,
    redact_prompts: bool | None = None,
    start_run: bool | None = None,
) -> Any:
    """Track the LLM calls made inside a function or a ``with`` block.

    Every OpenAI or Anthropic client call inside (sync, async, streaming; any
    OpenAI-compatible endpoint through ``base_url``) becomes an LLM span of an MLflow
    trace, with model, token usage, latency and cost (``mlflow.llm.cost``), and counts
    towards the scope's budget. The run's metrics ``llm.cost_usd``, ``llm.tokens.input``,
    ``llm.tokens.output``, ``llm.calls`` and ``llm.latency_p50_ms`` (plus
    ``llm.by_model.<model>.*`` and ``llm.by_provider.<provider>.*``) hold the totals. They
    are on the server when a run that ``track_llm``, ``mltrack.run`` or ``@mltrack.track``
    started ends (spooled with the run when the server is down); during a run they are
    sent in the background (at most once a second, and at exit; inside a plain
    ``mlflow.start_run``, :func:`flush_metrics` sends them now).

    Runs: inside an active MLflow run (``mltrack.run``, ``@mltrack.track``,
    ``mlflow.start_run``) the calls add up in that run. Otherwise each decorated call
    (or ``with`` block) starts its own run named after the scope, unless
    ``start_run=False`` (or ``llm.start_run: false``), in which case only traces are
    written.

    Budget scope: a ``with`` block is one scope; a decorated function is one scope for all
    its calls in this process (``func.llm_tracker()`` returns it).

    Args:
        func: the function to decorate (when used as ``@track_llm`` without parentheses).
        name: scope name (default: the function name, or ``llm``).
        budget_usd: spending limit in US dollars (default ``llm.budget_usd``).
        warn_at: fraction of the budget at which one :class:`BudgetWarning` is emitted.
        on_budget_exceeded: ``raise`` :class:`~mltrack.errors.BudgetExceeded` before the next
            call once the cost reaches the budget, or ``warn``.
        redact_prompts: replace prompt and response text in traces with ``[redacted]``.
        start_run: start a run when none is active (default ``llm.start_run``).

    Returns:
        The decorated function, or an object usable both as a decorator and as a
        (sync or async) context manager yielding an :class:`LLMTracker`.

    Examples:
        >>> @track_llm(budget_usd=0.50)
        ... def answer(question: str) -> str:
        ...     reply = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        ...     return reply.choices[0].message.content
        >>> with track_llm(name="batch") as usage:
        ...     answer("What is MLflow?")
        >>> usage.cost_usd, usage.tokens_input
    """
    options = {
        "budget_usd": budget_usd,
        "warn_at": warn_at,
        "on_budget_exceeded": on_budget_exceeded,
        "redact_prompts": redact_prompts,
    }
    factory = _TrackLLM(name, start_run, options)
    if func is not None:
        if not callable(func):
            raise TypeError("track_llm takes a function, or keyword arguments only")
        return _decorate(func, factory)
    return factory
