"""Hooks into MLflow tracing and the vendor clients (installed once per process).

* ``mlflow.openai.autolog`` and ``mlflow.anthropic.autolog`` create the LLM spans (sync,
  async, OpenAI streaming, Responses API);
* Anthropic streaming, which MLflow's autolog does not record, gets a span from here:
  ``messages.create(stream=True)`` and ``messages.stream(...)``, sync and async;
* an MLflow span processor (:func:`mlflow.tracing.configure`) runs as each LLM span ends:
  it prices the call (:mod:`mltrack.llm._pricing`), stores the cost on the span as
  ``mlflow.llm.cost`` (so the server keeps that value), redacts prompts when asked and
  hands the call to the active :class:`~mltrack.llm.LLMTracker` scopes
  (:mod:`mltrack.llm._scopes`);
* a thin gate around each client method checks the budgets *before* the request is sent.

A vendor SDK is instrumented when it is imported, not before: at the first tracked call
for an SDK the program has already imported, and otherwise right after the program
imports it (a :data:`sys.meta_path` finder, removed once both are instrumented). mltrack
never imports an SDK itself, so an OpenAI user does not pay the import of Anthropic's
(about a second of CPU) and the reverse.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.util
import inspect
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mltrack.llm._pricing import (
    PRICE_SOURCE_UNKNOWN,
    NoUsageWarning,
    UnknownModelPriceWarning,
    compute_cost,
    emit_warnings,
    unknown_model_message,
    use_bundled_catalog,
    warn_once,
)
from mltrack.llm._scopes import LLMCall, active_scopes, check_budgets, record_call

if TYPE_CHECKING:
    from mlflow.entities.span import LiveSpan

    from mltrack.config import Settings

__all__ = ["ensure_instrumented"]

_lock = threading.Lock()
_installed = False
_default_settings: Settings | None = None

REDACTED = "[redacted]"
PROVIDER_ATTRIBUTE = "mltrack.llm.provider"
_TEXT_KEYS = frozenset(
    {"content", "text", "input", "instructions", "system", "prompt", "output_text", "delta"}
)
_SECRET_ATTRIBUTES = ("extra_headers", "api_key", "default_headers")


def ensure_instrumented(settings: Settings) -> None:
    """Install the hooks once per process (cheap when already installed)."""
    global _installed, _default_settings
    if _installed:
        ensure_processor()
        return
    with _lock:
        if _installed:
            return
        _default_settings = settings
        use_bundled_catalog(settings.llm.remote_price_catalog)
        # Read by MLflow when its export queue is created (the first trace): each of its
        # threads competes for the GIL with the traced calls (scripts/bench/llm_overhead.py).
        os.environ.setdefault(
            "MLFLOW_ASYNC_TRACE_LOGGING_MAX_WORKERS", str(settings.llm.export_threads)
        )
        # Also read when the export is set up: spans per upload (MLflow's 5 meant an upload,
        # and a burst of background work, every ~2 tracked calls).
        os.environ.setdefault(
            "MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE", str(settings.llm.export_batch_spans)
        )
        _mark_absent_probes()
        _quiet_exit_flush_notice()
        ensure_processor()
        _instrument_on_import()
        _installed = True


# Optional modules MLflow tries to import on every LLM span or trace export (litellm for
# pricing, Databricks/Spark detection, the old OpenAI beta client). A failed import walks
# sys.path under the import lock on each call: measured ~1 ms per tracked call, as the
# main thread waits for the export threads' failing imports (scripts/bench/llm_overhead.py).
_PROBED_OPTIONAL_MODULES = ("litellm", "dbruntime", "pyspark", "openai.resources.beta.chat")


def _mark_absent_probes() -> None:
    """Record the probed modules that are not installed as absent (``sys.modules[name] = None``).

    That is Python's own marker for "this import fails": such imports then raise
    ``ModuleNotFoundError`` at once instead of searching. Installed modules are untouched.
    A submodule is probed only once its package is imported (looking it up imports the
    package): the OpenAI one when OpenAI gets instrumented.
    """
    for name in _PROBED_OPTIONAL_MODULES:
        if name in sys.modules:
            continue
        if "." in name and sys.modules.get(name.partition(".")[0]) is None:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # parent package missing or broken
            spec = None
        if spec is None:
            sys.modules[name] = None  # type: ignore[assignment]


_EXIT_FLUSH_NOTICE = "Flushing the async trace logging queue before program exit"


class _DropExitFlushNotice(logging.Filter):
    """Drops MLflow's INFO line announcing the trace export flush at interpreter exit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO and str(record.msg).startswith(_EXIT_FLUSH_NOTICE)
        )


def _quiet_exit_flush_notice() -> None:
    """Silence the one MLflow log line every traced process prints as it exits.

    MLflow's atexit hook logs it whenever trace export was used, so it ended every script
    that tracks LLM calls (and the outputs of the docs' examples). The flush itself still
    runs; warnings and errors of that logger still show.
    """
    logger = logging.getLogger("mlflow.tracing.export.async_export_queue")
    if not any(isinstance(f, _DropExitFlushNotice) for f in logger.filters):
        logger.addFilter(_DropExitFlushNotice())


def ensure_processor() -> None:
    """(Re-)register the span processor: ``mlflow.set_tracking_uri`` resets MLflow's list."""
    from mlflow.tracing.config import get_config

    current = get_config().span_processors
    if _process_span not in current:
        import mlflow

        mlflow.tracing.configure(span_processors=[*current, _process_span])


# --------------------------------------------------------------------------- SDK imports


def _instrument_on_import() -> None:
    """Instrument each vendor SDK now if it is imported, else as soon as it is."""
    waiting = {}
    for name, instrument in _SDKS.items():
        if sys.modules.get(name) is not None:
            instrument()
        else:
            waiting[name] = instrument
    if waiting:
        _SDKFinder.install(waiting)


def _instrument_imported(name: str, instrument: Callable[[], None]) -> None:
    """Instrument an SDK just imported; a failure must not fail the program's import."""
    try:
        instrument()
    except Exception as exc:  # noqa: BLE001 - the SDK stays usable, only untracked
        warnings.warn(
            f"mltrack: calls through {name} are not tracked: instrumenting it failed ({exc}); "
            "check that the installed MLflow supports this version of it",
            RuntimeWarning,
            stacklevel=2,
        )


class _SDKFinder(importlib.abc.MetaPathFinder):
    """Instruments a vendor SDK right after its package's first import.

    It finds nothing itself: for a watched package it asks the other finders and wraps
    the loader they return (:class:`_InstrumentingLoader`). It leaves ``sys.meta_path``
    once every watched SDK is instrumented.
    """

    _active: _SDKFinder | None = None

    def __init__(self, waiting: dict[str, Callable[[], None]]) -> None:
        self.waiting = waiting
        self._searching = threading.local()

    @classmethod
    def install(cls, waiting: dict[str, Callable[[], None]]) -> None:
        if cls._active is None:
            cls._active = cls(waiting)
            sys.meta_path.insert(0, cls._active)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        instrument = self.waiting.get(fullname)
        if instrument is None or getattr(self._searching, "name", None) == fullname:
            return None
        self._searching.name = fullname  # a finder after us may ask the import system again
        try:
            spec = _find_with_others(self, fullname, path, target)
        finally:
            self._searching.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _InstrumentingLoader(spec.loader, fullname, self._done)
        return spec

    def _done(self, name: str) -> None:
        instrument = self.waiting.pop(name, None)
        if not self.waiting:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)
        if instrument is not None:
            _instrument_imported(name, instrument)


def _find_with_others(
    me: object, fullname: str, path: Sequence[str] | None, target: ModuleType | None
) -> ModuleSpec | None:
    for finder in list(sys.meta_path):
        find = getattr(finder, "find_spec", None)
        if finder is me or find is None:
            continue
        spec = find(fullname, path, target)
        if spec is not None:
            return spec
    return None


class _InstrumentingLoader(importlib.abc.Loader):
    """The SDK package's own loader, plus a callback once the package has executed."""

    def __init__(self, loader: Any, name: str, done: Callable[[str], None]) -> None:
        self.loader, self.name, self.done = loader, name, done

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The package sees its own loader (importlib.resources and pkgutil ask it).
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.done(self.name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.loader, attr)


# --------------------------------------------------------------------------- span processor


def _provider_of(span: LiveSpan, hint: Any) -> str:
    """MLflow's ``mlflow.llm.provider`` when set (Anthropic), else the wire format (OpenAI)."""
    from mlflow.tracing.constant import SpanAttributeKey

    if hint:
        return str(hint)
    message_format = span.get_attribute(SpanAttributeKey.MESSAGE_FORMAT)
    return str(message_format) if message_format else "unknown"


def _redact(value: Any, under_text_key: bool = False) -> Any:
    """Replace prompt/response text in a JSON-like value, keeping its structure."""
    if isinstance(value, dict):
        return {k: _redact(v, k in _TEXT_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, under_text_key) for v in value]
    if isinstance(value, str) and under_text_key:
        return REDACTED
    return value


def _redact_span(span: LiveSpan) -> None:
    span.set_inputs(_redact(span.inputs, True))
    span.set_outputs(_redact(span.outputs, True))
    for key in ("instructions", "system", "prompt"):
        if span.get_attribute(key) is not None:
            span.set_attribute(key, REDACTED)
    # Streaming spans carry one event per chunk, with the text in it.
    events = getattr(span._span, "_events", None)
    if events is not None:
        with contextlib.suppress(Exception):  # OTel internals changed: keep the call going
            events.clear()


def _process_span(span: LiveSpan) -> None:
    """MLflow span processor: price, redact and record each LLM span as it ends."""
    from mlflow.entities import SpanType
    from mlflow.tracing.constant import SpanAttributeKey

    if span.span_type not in (SpanType.CHAT_MODEL, SpanType.LLM):
        return
    for key in _SECRET_ATTRIBUTES:
        if span.get_attribute(key) is not None:
            span.set_attribute(key, REDACTED)
    scopes = active_scopes()
    settings = scopes[-1].tracker.settings if scopes else _default_settings
    if settings is None:
        return
    model = span.get_attribute(SpanAttributeKey.MODEL)
    usage = span.get_attribute(SpanAttributeKey.CHAT_USAGE)
    hint = span.get_attribute(SpanAttributeKey.MODEL_PROVIDER)
    provider = _provider_of(span, hint)
    # MLflow's OpenAI spans carry no provider. mltrack's own key, not mlflow.llm.provider:
    # an OpenAI-compatible endpoint (base_url) may serve another vendor's model, and that
    # key is a pricing hint on the server.
    span.set_attribute(PROVIDER_ATTRIBUTE, provider)
    if settings.llm.redact_prompts or (scopes and scopes[-1].tracker.redact_prompts):
        _redact_span(span)
    if not usage:
        source = "no-usage"
        cost_total = None
        if model:
            warn_once(
                "no-usage",
                str(model),
                f"mltrack: the response of LLM model '{model}' reported no token usage, so its "
                "tokens and cost are unknown; for OpenAI streams pass "
                "stream_options={'include_usage': True}",
                NoUsageWarning,
            )
    else:
        result = compute_cost(model, usage, hint, settings.llm.prices)
        # Stored on the span, so the MLflow server keeps this value instead of pricing the
        # span again. An unknown price is marked by mltrack.llm.price_source only: the
        # server rejects a trace holding a null mlflow.llm.cost.
        if result.cost is not None and SpanAttributeKey.LLM_COST not in (
            span._span.attributes or {}
        ):
            span.set_attribute(SpanAttributeKey.LLM_COST, result.cost)
        cost_total = result.total
        source = result.source
        if source == PRICE_SOURCE_UNKNOWN:
            warn_once(
                "unknown-model", str(model), unknown_model_message(str(model)),
                UnknownModelPriceWarning,
            )  # fmt: skip
    span.set_attribute("mltrack.llm.price_source", source)
    usage = usage or {}
    call = LLMCall(
        model=str(model) if model else "unknown",
        provider=provider,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_input_tokens=int(usage.get("cache_read_input_tokens") or 0),
        cost_usd=cost_total,
        price_source=source,
        latency_ms=(time.time_ns() - span.start_time_ns) / 1e6,
        start_time=span.start_time_ns / 1e9,
        trace_id=span.trace_id,
        span_id=span.span_id,
    )
    record_call(scopes, call)


# --------------------------------------------------------------------------- budget gate


def _before_request() -> None:
    """Enforce the active scopes' budgets, and make sure the span processor is registered."""
    check_budgets()
    ensure_processor()


def _gate_sync(previous: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(previous)
    def gated(self: Any, *args: Any, **kwargs: Any) -> Any:
        _before_request()
        try:
            return previous(self, *args, **kwargs)
        finally:
            emit_warnings()

    gated.__mltrack_gate__ = True  # type: ignore[attr-defined]
    return gated


def _gate_async(previous: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(previous)
    async def gated(self: Any, *args: Any, **kwargs: Any) -> Any:
        _before_request()
        try:
            return await previous(self, *args, **kwargs)
        finally:
            emit_warnings()

    gated.__mltrack_gate__ = True  # type: ignore[attr-defined]
    return gated


def _install_gate(cls: type, name: str, wrapper: Callable[..., Any] | None = None) -> None:
    previous = cls.__dict__.get(name)
    if previous is None or getattr(previous, "__mltrack_gate__", False):
        return
    if wrapper is None:
        wrapper = (
            _gate_async(previous) if inspect.iscoroutinefunction(previous) else _gate_sync(previous)
        )
    setattr(cls, name, wrapper)


def _instrument_openai() -> None:
    try:
        import openai  # noqa: F401
    except ImportError:
        return
    import mlflow

    _mark_absent_probes()  # the OpenAI submodule MLflow probes

    mlflow.openai.autolog(silent=True)
    from openai.resources.chat.completions import AsyncCompletions, Completions

    targets: list[tuple[type, str]] = [(Completions, "create"), (AsyncCompletions, "create")]
    try:
        from openai.resources.responses import AsyncResponses, Responses

        targets += [(Responses, "create"), (AsyncResponses, "create")]
    except ImportError:  # pragma: no cover - openai < 1.66
        pass
    for cls, name in targets:
        _install_gate(cls, name)


# --------------------------------------------------------------------------- anthropic streams


class _AnthropicStreamSpan:
    """Collects usage from Anthropic stream events and ends one LLM span at the end."""

    def __init__(self, inputs: dict[str, Any]) -> None:
        import mlflow
        from mlflow.entities import SpanType
        from mlflow.tracing.constant import SpanAttributeKey

        self.span = mlflow.start_span_no_context(
            name="Messages.stream",
            span_type=SpanType.CHAT_MODEL,
            parent_span=mlflow.get_current_active_span(),
            inputs=inputs,
            attributes={
                SpanAttributeKey.MESSAGE_FORMAT: "anthropic",
                SpanAttributeKey.MODEL_PROVIDER: "anthropic",
            },
        )
        if isinstance(inputs.get("model"), str):
            self.span.set_attribute(SpanAttributeKey.MODEL, inputs["model"])
        self.usage: dict[str, int] = {}
        self.text: list[str] = []
        self.message: dict[str, Any] = {}
        self.done = False

    def observe(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = event.message
            self.message = {"id": message.id, "model": message.model, "role": "assistant"}
            self._take_usage(message.usage)
        elif kind == "message_delta":
            self._take_usage(event.usage)
            self.message["stop_reason"] = getattr(event.delta, "stop_reason", None)
        elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
            self.text.append(event.delta.text)

    def _take_usage(self, usage: Any) -> None:
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = getattr(usage, key, None)
            if value is not None:
                self.usage[key] = int(value)

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        from mlflow.entities.span_event import SpanEvent
        from mlflow.entities.span_status import SpanStatusCode
        from mlflow.tracing.constant import SpanAttributeKey

        if self.message.get("model"):
            self.span.set_attribute(SpanAttributeKey.MODEL, self.message["model"])
        if self.usage:
            self.span.set_attribute(SpanAttributeKey.CHAT_USAGE, _anthropic_usage(self.usage))
        outputs = {**self.message, "content": [{"type": "text", "text": "".join(self.text)}]}
        if error is not None:
            self.span.add_event(SpanEvent.from_exception(error))  # type: ignore[arg-type]
            self.span.end(outputs=outputs, status=SpanStatusCode.ERROR)
        else:
            self.span.end(outputs=outputs)


def _anthropic_usage(raw: dict[str, int]) -> dict[str, int]:
    """MLflow's usage layout; like MLflow, input tokens include the cache tokens."""
    cached = raw.get("cache_read_input_tokens")
    created = raw.get("cache_creation_input_tokens")
    extra = (cached or 0) + (created or 0)
    usage = {
        "input_tokens": raw.get("input_tokens", 0) + extra,
        "output_tokens": raw.get("output_tokens", 0),
    }
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    if cached is not None:
        usage["cache_read_input_tokens"] = cached
    if created is not None:
        usage["cache_creation_input_tokens"] = created
    return usage


def _watch_sync_stream(stream: Any, tracker: _AnthropicStreamSpan) -> Any:
    source: Iterator[Any] = stream._iterator

    def watched() -> Iterator[Any]:
        try:
            for event in source:
                tracker.observe(event)
                yield event
        except BaseException as exc:
            tracker.finish(exc)
            raise
        tracker.finish()

    stream._iterator = watched()
    original_close = stream.close

    def close() -> None:
        original_close()
        tracker.finish()  # closed before the end: record what was seen

    stream.close = close
    return stream


def _watch_async_stream(stream: Any, tracker: _AnthropicStreamSpan) -> Any:
    source: AsyncIterator[Any] = stream._iterator

    async def watched() -> AsyncIterator[Any]:
        try:
            async for event in source:
                tracker.observe(event)
                yield event
        except BaseException as exc:
            tracker.finish(exc)
            raise
        tracker.finish()

    stream._iterator = watched()
    original_close = stream.close

    async def close() -> None:
        await original_close()
        tracker.finish()

    stream.close = close
    return stream


def _stream_inputs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in kwargs.items() if k not in ("extra_headers", "extra_query", "extra_body")
    }


def _instrument_anthropic() -> None:
    try:
        from anthropic.resources.messages import AsyncMessages, Messages
    except ImportError:
        return
    import mlflow
    from mlflow.utils import gorilla

    mlflow.anthropic.autolog(silent=True)
    raw_create = gorilla.get_original_attribute(Messages, "create")
    raw_acreate = gorilla.get_original_attribute(AsyncMessages, "create")
    traced_create = Messages.__dict__["create"]
    traced_acreate = AsyncMessages.__dict__["create"]

    @functools.wraps(raw_create)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        _before_request()
        if not kwargs.get("stream"):
            try:
                return traced_create(self, *args, **kwargs)
            finally:
                emit_warnings()
        tracker = _AnthropicStreamSpan(_stream_inputs(kwargs))
        try:
            stream = raw_create(self, *args, **kwargs)
        except BaseException as exc:
            tracker.finish(exc)
            raise
        return _watch_sync_stream(stream, tracker)

    @functools.wraps(raw_acreate)
    async def acreate(self: Any, *args: Any, **kwargs: Any) -> Any:
        _before_request()
        if not kwargs.get("stream"):
            try:
                return await traced_acreate(self, *args, **kwargs)
            finally:
                emit_warnings()
        tracker = _AnthropicStreamSpan(_stream_inputs(kwargs))
        try:
            stream = await raw_acreate(self, *args, **kwargs)
        except BaseException as exc:
            tracker.finish(exc)
            raise
        return _watch_async_stream(stream, tracker)

    create.__mltrack_gate__ = True  # type: ignore[attr-defined]
    acreate.__mltrack_gate__ = True  # type: ignore[attr-defined]
    _install_gate(Messages, "create", create)
    _install_gate(AsyncMessages, "create", acreate)
    _install_gate(Messages, "stream", _stream_helper(Messages.__dict__["stream"], is_async=False))
    _install_gate(
        AsyncMessages, "stream", _stream_helper(AsyncMessages.__dict__["stream"], is_async=True)
    )


def _stream_helper(original: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """Wrap ``messages.stream(...)``: the request is made when its manager is entered."""

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = original(self, *args, **kwargs)
        inputs = _stream_inputs(kwargs)
        attr = (
            "_AsyncMessageStreamManager__api_request"
            if is_async
            else "_MessageStreamManager__api_request"
        )
        request = getattr(manager, attr, None)
        if request is None:  # pragma: no cover - anthropic internals changed; stay usable
            return manager
        if is_async:

            async def arequest() -> Any:
                try:
                    check_budgets()
                except BaseException:
                    request.close()  # the coroutine will never be awaited
                    raise
                tracker = _AnthropicStreamSpan(inputs)
                try:
                    raw = await request
                except BaseException as exc:
                    tracker.finish(exc)
                    raise
                return _watch_async_stream(raw, tracker)

            setattr(manager, attr, arequest())
        else:

            def srequest() -> Any:
                check_budgets()
                tracker = _AnthropicStreamSpan(inputs)
                try:
                    raw = request()
                except BaseException as exc:
                    tracker.finish(exc)
                    raise
                return _watch_sync_stream(raw, tracker)

            setattr(manager, attr, srequest)
        return manager

    stream.__mltrack_gate__ = True  # type: ignore[attr-defined]
    return stream


#: Vendor SDK package -> what instruments it (after it is imported).
_SDKS: dict[str, Callable[[], None]] = {
    "openai": _instrument_openai,
    "anthropic": _instrument_anthropic,
}
