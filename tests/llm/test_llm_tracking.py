"""@track_llm against a real MLflow server and the real openai/anthropic clients.

The clients talk to mltrack's fake vendor server (the only fake: vendor APIs cannot be
reached here). Expected tokens come from what that server answered; expected costs from
MLflow's own catalog computation, called here directly.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from mltrack.testing import FakeLLMServer, count_tokens, fake_reply
from tests._helpers import ml_in_process

SECRET = "sk-mltrack-test-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(cached_input_tokens=2) as server:
        yield server


@pytest.fixture(autouse=True)
def _flush_traces(tracking_uri: str) -> Iterator[None]:
    """Export pending traces before the fixture points MLflow elsewhere."""
    import mlflow

    yield
    mlflow.flush_trace_async_logging()


@pytest.fixture()
def clients(fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import anthropic
    import openai

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    fake_llm.reset()
    return {
        "openai": openai.OpenAI(base_url=fake_llm.openai_base_url),
        "aopenai": openai.AsyncOpenAI(base_url=fake_llm.openai_base_url),
        "anthropic": anthropic.Anthropic(base_url=fake_llm.anthropic_base_url),
        "aanthropic": anthropic.AsyncAnthropic(base_url=fake_llm.anthropic_base_url),
    }


def _catalog_cost(model: str, usage: dict[str, int], provider: str | None) -> dict[str, float]:
    from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage

    cost = calculate_cost_by_model_and_token_usage(model, usage, provider)
    assert cost is not None, f"{model} should be in MLflow's bundled catalog"
    return cost


def _mlflow_usage(call: dict[str, Any]) -> dict[str, int]:
    """What MLflow records for a fake-server answer (input tokens include cached ones)."""
    return {
        "input_tokens": call["input_tokens"],
        "output_tokens": call["output_tokens"],
        "total_tokens": call["input_tokens"] + call["output_tokens"],
        "cache_read_input_tokens": call["cached_input_tokens"],
    }


def _llm_spans(experiment: str) -> list[Any]:
    import mlflow

    mlflow.flush_trace_async_logging()
    exp = mlflow.get_experiment_by_name(experiment)
    traces = mlflow.MlflowClient().search_traces(locations=[exp.experiment_id])
    return [s for t in traces for s in t.data.spans if s.span_type == "CHAT_MODEL"]


def _messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_sync_openai_tokens_and_cost_match_mlflow_catalog(
    experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:
    import mlflow
    from mlflow.utils.providers import cost_per_token

    from mltrack.llm import track_llm

    @track_llm
    def ask(question: str) -> str:
        reply = clients["openai"].chat.completions.create(
            model="gpt-4o-mini", messages=_messages(question)
        )
        return reply.choices[0].message.content

    answer = ask("what does mlflow track")
    served = fake_llm.calls()
    assert len(served) == 1 and answer == served[0]["reply"]
    tracker = ask.llm_tracker()
    (call,) = tracker.calls
    assert (call.model, call.provider) == ("gpt-4o-mini", "openai")
    assert (call.input_tokens, call.output_tokens, call.cached_input_tokens) == (
        served[0]["input_tokens"], served[0]["output_tokens"], served[0]["cached_input_tokens"],
    )  # fmt: skip
    usage = _mlflow_usage(served[0])
    expected = _catalog_cost("gpt-4o-mini", usage, None)
    assert call.cost_usd == expected["total_cost"] and call.price_source == "mlflow-catalog"
    # and the catalog itself, priced independently of the span machinery
    in_cost, out_cost = cost_per_token(
        "gpt-4o-mini", usage["input_tokens"], usage["output_tokens"],
        cache_read_input_tokens=usage["cache_read_input_tokens"],
    )  # fmt: skip
    assert call.cost_usd == in_cost + out_cost

    # the decorator started a run: its metrics hold the same totals
    run = mlflow.search_runs(experiment_names=[experiment], output_format="list")[0]
    metrics = run.data.metrics
    assert run.info.run_name == "ask" and run.info.status == "FINISHED"
    assert metrics["llm.cost_usd"] == expected["total_cost"]
    assert metrics["llm.tokens.input"] == served[0]["input_tokens"]
    assert metrics["llm.tokens.output"] == served[0]["output_tokens"]
    assert metrics["llm.calls"] == 1
    assert metrics["llm.latency_p50_ms"] == pytest.approx(call.latency_ms)
    assert metrics["llm.by_model.gpt-4o-mini.cost_usd"] == expected["total_cost"]
    assert metrics["llm.by_provider.openai.calls"] == 1
    assert run.data.tags["mltrack.llm.cost_status"] == "complete"

    # the span stored by the server carries the same cost and usage
    (span,) = _llm_spans(experiment)
    assert span.get_attribute("mlflow.llm.cost") == expected
    assert span.get_attribute("mlflow.chat.tokenUsage")["input_tokens"] == served[0]["input_tokens"]
    assert span.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    # MLflow's OpenAI spans have no provider: mltrack adds one
    assert span.get_attribute("mltrack.llm.provider") == "openai"
    # redaction is off by default: the prompt and the reply are in the trace
    assert span.inputs["messages"] == _messages("what does mlflow track")
    assert answer in json.dumps(span.outputs)


def test_async_streaming_and_anthropic_inside_one_run(
    experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:
    import mlflow

    from mltrack.llm import flush_metrics, track_llm

    oa, aoa, an, aan = (
        clients["openai"],
        clients["aopenai"],
        clients["anthropic"],
        clients["aanthropic"],
    )

    async def async_calls() -> None:
        await aoa.chat.completions.create(model="gpt-4o", messages=_messages("async openai"))
        stream = await aan.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=_messages("async anthropic stream"),
            stream=True,
        )
        async for _ in stream:
            pass
        await aan.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=_messages("async anthropic")
        )

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="outer") as run, track_llm(name="mixed") as tracker:
        chunks = oa.chat.completions.create(
            model="gpt-4o-mini", messages=_messages("stream please"), stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        for _ in oa.responses.create(model="gpt-4.1", input="responses stream", stream=True):
            pass
        oa.responses.create(model="gpt-4.1-mini", input="responses sync")
        an.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=_messages("anthropic sync")
        )
        with an.messages.stream(
            model="claude-haiku-4-5", max_tokens=64, messages=_messages("helper")
        ) as s:
            helper_text = "".join(s.text_stream)
        asyncio.run(async_calls())

    served = fake_llm.calls()
    assert streamed == served[0]["reply"] and helper_text == served[4]["reply"]
    assert [c.model for c in tracker.calls] == [c["model"] for c in served]
    for call, answer in zip(tracker.calls, served, strict=True):
        assert (call.input_tokens, call.output_tokens) == (
            answer["input_tokens"],
            answer["output_tokens"],
        )
        hint = "anthropic" if answer["api"] == "messages" else None
        assert call.provider == ("anthropic" if hint else "openai")
        assert call.cost_usd == _catalog_cost(call.model, _mlflow_usage(answer), hint)["total_cost"]
    total = sum(c.cost_usd for c in tracker.calls)
    assert tracker.cost_usd == pytest.approx(total, rel=1e-12) and tracker.cost_complete

    flush_metrics()  # totals of a run we did not start are sent in the background
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert metrics["llm.calls"] == len(served) == 8
    assert metrics["llm.cost_usd"] == pytest.approx(total, rel=1e-12)
    assert metrics["llm.tokens.input"] == sum(c["input_tokens"] for c in served)
    assert metrics["llm.by_provider.anthropic.calls"] == 4
    assert mlflow.get_run(run.info.run_id).info.run_name == "outer"  # aggregated, no new run

    spans = {s.span_id: s for s in _llm_spans(experiment)}
    for call in tracker.calls:
        stored = spans[call.span_id].get_attribute("mlflow.llm.cost")
        assert stored["total_cost"] == call.cost_usd
        # every LLM span (sync, async, streamed, both vendors) names its provider
        assert spans[call.span_id].get_attribute("mltrack.llm.provider") == call.provider
    # MLflow's own trace-level aggregation agrees with mltrack's total
    exp = mlflow.get_experiment_by_name(experiment)
    (trace,) = mlflow.MlflowClient().search_traces(locations=[exp.experiment_id])
    trace_cost = json.loads(trace.info.request_metadata["mlflow.trace.cost"])
    assert trace_cost["total_cost"] == pytest.approx(total, rel=1e-9)


def test_flush_metrics_waits_for_totals_the_background_flush_took(
    experiment: str, clients: dict
) -> None:
    # The background flush (once a second) takes a run's totals and queues them; a
    # flush_metrics() right after found nothing "dirty" and returned before they were
    # sent, so reading the run back missed llm.* (seen in CI as a KeyError).
    import mlflow

    from mltrack.llm import _tracker, flush_metrics, track_llm

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="outer") as run, track_llm(name="one"):
        clients["openai"].chat.completions.create(model="gpt-4o", messages=_messages("hi"))
    _tracker._flush_run_metrics(run.info.run_id, synchronous=False)  # what the loop does
    flush_metrics()
    assert mlflow.get_run(run.info.run_id).data.metrics["llm.calls"] == 1


def test_budget_warns_once_then_raises_before_the_next_call(
    tracking_uri: str, experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:
    from mltrack.errors import BudgetExceeded
    from mltrack.llm import BudgetWarning, track_llm

    reply_tokens = count_tokens(fake_reply("gpt-4o-mini", "budget"))
    usage = _mlflow_usage(
        {"input_tokens": 1, "output_tokens": reply_tokens, "cached_input_tokens": 1}
    )
    unit = _catalog_cost("gpt-4o-mini", usage, None)["total_cost"]
    # warn_at 0.5 fires on the 2nd call (80%); the 3rd goes through (2 < 2.5); the 4th is refused
    budget = 2.5 * unit

    @track_llm(budget_usd=budget, warn_at=0.5)
    def ask() -> None:
        clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages("budget"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            ask()
    budget_warnings = [w for w in caught if issubclass(w.category, BudgetWarning)]
    assert len(budget_warnings) == 1 and "'ask'" in str(budget_warnings[0].message)
    assert len(fake_llm.calls()) == 3
    with pytest.raises(BudgetExceeded, match="budget 'ask' is spent"):
        ask()
    assert len(fake_llm.calls()) == 3, "the 4th request must not be sent"
    assert ask.llm_tracker().cost_usd == pytest.approx(3 * unit)

    # warn mode: the call goes through, with one warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with track_llm(budget_usd=0.0, on_budget_exceeded="warn", start_run=False) as tracker:
            clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages("x"))
            clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages("y"))
    assert len(tracker.calls) == 2 and len(fake_llm.calls()) == 5
    assert len([w for w in caught if issubclass(w.category, BudgetWarning)]) == 1


@pytest.mark.parametrize("source", ["file", "env"])
def test_budget_from_config_raises_without_decorator_argument(
    source: str,
    experiment: str,
    clients: dict,
    fake_llm: FakeLLMServer,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mltrack.errors import BudgetExceeded
    from mltrack.llm import track_llm

    # far below the price of one call: the first call is sent, the second refused
    budget = "0.000001"
    if source == "file":  # the tracking_uri fixture made tmp_path the working directory
        (tmp_path / ".mltrack.yml").write_text(f"llm:\n  budget_usd: {budget}\n")
    else:
        monkeypatch.setenv("MLTRACK_LLM__BUDGET_USD", budget)

    @track_llm
    def ask() -> None:
        clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages("hi"))

    ask()
    tracker = ask.llm_tracker()
    assert tracker.budget_usd == float(budget)
    assert tracker.cost_usd > float(budget)
    with pytest.raises(BudgetExceeded, match="budget 'ask' is spent"):
        ask()
    assert len(fake_llm.calls()) == 1, "the 2nd request must not be sent"


def test_async_def_with_async_openai_streaming(
    experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:
    import mlflow

    from mltrack.llm import track_llm

    @track_llm
    async def ask(question: str) -> str:
        stream = await clients["aopenai"].chat.completions.create(
            model="gpt-4o-mini", messages=_messages(question), stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    answer = asyncio.run(ask("stream this asynchronously"))
    (served,) = fake_llm.calls()
    assert served["stream"] and answer == served["reply"]
    (call,) = ask.llm_tracker().calls
    assert (call.model, call.provider) == ("gpt-4o-mini", "openai")
    assert (call.input_tokens, call.output_tokens) == (
        served["input_tokens"], served["output_tokens"],
    )  # fmt: skip
    expected = _catalog_cost("gpt-4o-mini", _mlflow_usage(served), None)
    assert call.cost_usd == expected["total_cost"]

    # the coroutine got its own run, closed once it returned
    run = mlflow.search_runs(experiment_names=[experiment], output_format="list")[0]
    assert run.info.run_name == "ask" and run.info.status == "FINISHED"
    assert run.data.metrics["llm.calls"] == 1
    assert run.data.metrics["llm.cost_usd"] == expected["total_cost"]
    # one trace: the coroutine's span, holding the streamed LLM span
    mlflow.flush_trace_async_logging()
    exp = mlflow.get_experiment_by_name(experiment)
    (trace,) = mlflow.MlflowClient().search_traces(locations=[exp.experiment_id])
    root, llm_span = sorted(trace.data.spans, key=lambda s: s.parent_id is not None)
    assert root.name == "ask" and root.inputs == {"question": "stream this asynchronously"}
    assert root.outputs == answer
    assert llm_span.parent_id == root.span_id and llm_span.span_type == "CHAT_MODEL"
    assert llm_span.get_attribute("mlflow.llm.cost") == expected


def test_unknown_model_warns_once_and_records_unknown_cost(
    experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:
    import mlflow

    from mltrack.llm import UnknownModelPriceWarning, track_llm

    model = "acme-private-" + uuid.uuid4().hex[:6]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with track_llm(name="unknown") as tracker:
            for _ in range(2):
                clients["openai"].chat.completions.create(model=model, messages=_messages("hi"))
    unknown = [w for w in caught if issubclass(w.category, UnknownModelPriceWarning)]
    assert len(unknown) == 1
    text = str(unknown[0].message)
    assert model in text and "llm:" in text and "prices" in text and "\n" not in text
    assert [c.cost_usd for c in tracker.calls] == [None, None]
    assert not tracker.cost_complete and tracker.unpriced_calls == 2
    assert tracker.summary()["cost_usd"] is None
    run = mlflow.search_runs(experiment_names=[experiment], output_format="list")[0]
    assert "llm.cost_usd" not in run.data.metrics, "an unknown cost must not be logged as 0"
    assert run.data.metrics["llm.calls_unpriced"] == 2
    assert run.data.tags["mltrack.llm.cost_status"].startswith("partial")
    spans = _llm_spans(experiment)
    assert len(spans) == 2
    assert all(s.get_attribute("mltrack.llm.price_source") == "unknown" for s in spans)
    assert all(s.get_attribute("mlflow.llm.cost") is None for s in spans)


def test_price_override_from_config(
    experiment: str, clients: dict, fake_llm: FakeLLMServer, tmp_path: Any
) -> None:
    from mltrack.llm import track_llm

    model = "ft:gpt-4o-mini:acme:" + uuid.uuid4().hex[:6]
    (tmp_path / ".mltrack.yml").write_text(
        f"llm:\n  prices:\n    '{model}': {{input_per_million: 2.0, output_per_million: 8.0, cached_input_per_million: 1.0}}\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no unknown-model warning
        with track_llm(name="override", start_run=False) as tracker:
            clients["openai"].chat.completions.create(
                model=model, messages=_messages("one two three")
            )
    served = fake_llm.calls()[0]
    (call,) = tracker.calls
    cached = served["cached_input_tokens"]
    expected = (
        (served["input_tokens"] - cached) * 2.0 + cached * 1.0 + served["output_tokens"] * 8.0
    ) / 1e6
    assert call.price_source == "mltrack-config"
    assert call.cost_usd == pytest.approx(expected, rel=1e-12)
    (span,) = _llm_spans(experiment)
    assert span.get_attribute("mlflow.llm.cost")["total_cost"] == pytest.approx(expected)


def test_redaction_and_api_key_never_recorded(
    experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:
    import mlflow

    from mltrack.llm import track_llm

    prompt = "confidential-" + uuid.uuid4().hex
    with track_llm(name="redacted", redact_prompts=True):
        clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages(prompt))
        clients["anthropic"].messages.create(
            model="claude-haiku-4-5", max_tokens=32, system=prompt, messages=_messages(prompt)
        )
    assert all(c["api_key_sent"] for c in fake_llm.calls())  # the key was really used
    mlflow.flush_trace_async_logging()
    exp = mlflow.get_experiment_by_name(experiment)
    (trace,) = mlflow.MlflowClient().search_traces(locations=[exp.experiment_id])
    dumped = trace.to_json()
    assert prompt not in dumped, "prompt text must be redacted"
    assert SECRET not in dumped, "the API key must never reach a trace"
    assert "[redacted]" in dumped
    llm_spans = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
    assert len(llm_spans) == 2 and all(s.get_attribute("mlflow.llm.cost") for s in llm_spans)


def test_cli_report_json_markdown_and_errors(
    experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:

    from mltrack.llm import track_llm

    with track_llm(name="report") as tracker:
        clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages("a b c"))
        clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages("d e"))
        clients["anthropic"].messages.create(
            model="claude-haiku-4-5", max_tokens=16, messages=_messages("f")
        )
    import mlflow

    mlflow.flush_trace_async_logging()
    result = ml_in_process("llm", "report", experiment, "--format", "json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert SECRET not in result.stdout
    rows = {r["key"]: r for r in report["rows"]}
    assert set(rows) == {"gpt-4o-mini", "claude-haiku-4-5"}
    assert rows["gpt-4o-mini"]["calls"] == 2
    by_model = tracker.summary()["by_model"]
    for model, row in rows.items():
        assert row["cost_usd"] == pytest.approx(by_model[model]["cost_usd"], rel=1e-12)
        assert row["tokens_input"] == by_model[model]["tokens_input"]
        assert row["tokens_output"] == by_model[model]["tokens_output"]
    assert report["total"]["cost_usd"] == pytest.approx(tracker.cost_usd, rel=1e-12)
    assert report["traces"] == 1
    # -e names the experiment as `ml runs -e` does; two different ones are refused.
    option = ml_in_process("llm", "report", "-e", experiment, "--format", "json")
    assert option.returncode == 0 and json.loads(option.stdout) == report, option.stdout
    both = ml_in_process("llm", "report", experiment, "--experiment", "other")
    assert both.returncode == 2 and "two experiments given" in both.stderr, both.stderr

    result = ml_in_process(
        *["llm", "report", experiment, "--by", "provider", "--format", "markdown"]
    )
    assert result.returncode == 0, result.stdout
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("| provider |") and any(
        line.startswith("| anthropic | 1 |") for line in lines
    )
    assert lines[-1].startswith("| **total** | **3** |")

    # through the app's error boundary: unknown experiment -> one line, exit 2, no traceback
    proc = ml_in_process("llm", "report", "no-such-experiment-" + uuid.uuid4().hex[:6])
    assert proc.returncode == 2, proc.stderr
    assert "no experiment named" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_report_by_day_and_default_table(
    experiment: str, clients: dict, fake_llm: FakeLLMServer
) -> None:
    import datetime as dt

    import mlflow

    from mltrack.llm import track_llm

    day_before = dt.datetime.now(dt.UTC).date().isoformat()
    with track_llm(name="daily") as tracker:
        clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages("a b"))
        clients["anthropic"].messages.create(
            model="claude-haiku-4-5", max_tokens=16, messages=_messages("c d e")
        )
    day_after = dt.datetime.now(dt.UTC).date().isoformat()
    mlflow.flush_trace_async_logging()

    result = ml_in_process("llm", "report", experiment, "--by", "day", "--format", "json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["by"] == "day"
    (row,) = report["rows"]  # both calls were made today (UTC)
    assert row["key"] in {day_before, day_after}
    assert row["calls"] == 2 and report["total"]["calls"] == 2
    assert row["cost_usd"] == pytest.approx(tracker.cost_usd, rel=1e-12)
    assert report["total"]["cost_usd"] == pytest.approx(tracker.cost_usd, rel=1e-12)
    assert row["tokens_input"] == tracker.tokens_input == report["total"]["tokens_input"]
    assert row["tokens_output"] == tracker.tokens_output == report["total"]["tokens_output"]

    # the default output: a table by model, with a total line (on a 200-column console,
    # wide enough for rich not to wrap it)
    proc = ml_in_process("llm", "report", experiment)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f"LLM usage in '{experiment}' by model (1 trace)" in text
    lines = [line for line in text.splitlines() if "│" in line]
    cells = {
        parts[0]: parts[1:]
        for parts in ([c.strip() for c in line.strip("│ ").split("│")] for line in lines)
    }
    by_model = tracker.summary()["by_model"]
    for model in ("gpt-4o-mini", "claude-haiku-4-5"):
        calls, tokens_in, tokens_out, cost, _latency = cells[model]
        assert (int(calls), int(tokens_in), int(tokens_out)) == (
            1, by_model[model]["tokens_input"], by_model[model]["tokens_output"],
        )  # fmt: skip
        assert float(cost) == pytest.approx(by_model[model]["cost_usd"], abs=1e-8)
    calls, tokens_in, tokens_out, cost, _latency = cells["total"]
    assert (int(calls), int(tokens_in)) == (2, tracker.tokens_input)
    assert float(cost) == pytest.approx(tracker.cost_usd, abs=1e-8)


def test_fake_server_subprocess_mode_leaves_no_process() -> None:
    import os

    import openai

    server = FakeLLMServer(in_process=False).start()
    pid = server._process.pid  # type: ignore[union-attr]
    try:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="x")
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=_messages("ping pong"))
        assert reply.choices[0].message.content == "Reply from gpt-4o-mini: ping pong"
        assert reply.usage is not None and reply.usage.prompt_tokens == 2
        assert server.calls()[0]["model"] == "gpt-4o-mini"
    finally:
        server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


_EXPORT_PROBE = """
import os, sys
import mlflow, openai
from mltrack import track_llm
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-probe")
@track_llm(start_run=False)
def ask():
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
ask()
mlflow.flush_trace_async_logging()
traces = mlflow.MlflowClient().search_traces(locations=["0"])
from mlflow.tracing.processor.base_mlflow import _batch_processor_registry
# what the running exporter really uses (OpenTelemetry's BatchSpanProcessor internals)
sizes = {p._batch_delegate._batch_processor._max_export_batch_size
         for p in _batch_processor_registry if p._batch_delegate is not None}
print(os.environ.get("MLFLOW_ASYNC_TRACE_LOGGING_MAX_WORKERS"), len(traces),
      sys.modules.get("litellm", "absent") is None, ",".join(map(str, sorted(sizes))))
"""


@pytest.mark.parametrize(
    ("env", "expected", "batch"),
    [
        # mltrack's defaults: one exporter keeps a trace's uploads in order; 64-span uploads
        ({}, "1", "64"),
        ({"MLTRACK_LLM__EXPORT_THREADS": "3", "MLTRACK_LLM__EXPORT_BATCH_SPANS": "16"}, "3", "16"),
        # MLflow's own variables win
        (
            {
                "MLFLOW_ASYNC_TRACE_LOGGING_MAX_WORKERS": "5",
                "MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE": "7",
            },
            "5",
            "7",
        ),
    ],
)
def test_trace_export_threads_follow_the_setting(
    tmp_path: Any,
    tracking_uri: str,
    fake_llm: FakeLLMServer,
    env: dict[str, str],
    expected: str,
    batch: str,
) -> None:
    import importlib.util
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_PROBE, fake_llm.openai_base_url],
        env={**base, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONWARNINGS": "ignore", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    threads, traces, litellm_marked, batch_sizes = done.stdout.split()
    assert threads == expected and int(traces) >= 1
    assert batch_sizes == batch  # the exporter running in that process uses it
    # MLflow's exit-time notice is silenced (it ended every traced script's output)
    assert "Flushing the async trace logging queue" not in done.stderr
    # A module MLflow probes on every span and that is not installed is marked absent once.
    assert litellm_marked == str(importlib.util.find_spec("litellm") is None)


def _totals(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k.startswith("llm.") and ".by_" not in k}


def test_totals_are_on_the_run_when_its_block_returns(
    tracking_uri: str,
    experiment: str,
    clients: dict,
    fake_llm: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``mltrack.run`` / ``@mltrack.track``: plain MLflow reads see the totals at once."""
    import mlflow

    import mltrack
    from mltrack.llm import _tracker, track_llm
    from mltrack.logging import get_logger

    # No timer sends anything during the test (neither the logger's nor the totals'
    # thread): only the end of the run may.
    monkeypatch.setattr(get_logger(tracking_uri).settings, "flush_interval_s", 3600.0)
    monkeypatch.setattr(_tracker, "_FLUSH_INTERVAL_S", 3600.0)
    client = mlflow.MlflowClient()

    @track_llm(name="answer")
    def answer(question: str) -> None:
        clients["openai"].chat.completions.create(model="gpt-4o-mini", messages=_messages(question))

    with mltrack.run("rag-eval") as run:
        with track_llm(name="batch") as tracker:
            for question in ("one", "two", "three"):
                clients["openai"].chat.completions.create(
                    model="gpt-4o-mini", messages=_messages(question)
                )
        answer("four")  # a decorated scope inside the same run adds up in it
    stored = client.get_run(run.id)
    served = fake_llm.calls()
    assert stored.info.status == "FINISHED"
    totals = _totals(stored.data.metrics)
    assert totals["llm.calls"] == 4 == len(served)
    assert totals["llm.tokens.input"] == sum(c["input_tokens"] for c in served)
    assert totals["llm.tokens.output"] == sum(c["output_tokens"] for c in served)
    cost = tracker.cost_usd + answer.llm_tracker().cost_usd
    assert totals["llm.cost_usd"] == pytest.approx(cost, rel=1e-12) and cost > 0
    assert totals["llm.calls_unpriced"] == 0 and totals["llm.latency_p50_ms"] > 0
    assert stored.data.metrics["llm.by_model.gpt-4o-mini.calls"] == 4
    assert stored.data.tags["mltrack.llm.cost_status"] == "complete"

    @mltrack.track
    def evaluate() -> None:
        answer("five")
        raise RuntimeError("judge failed")

    with pytest.raises(RuntimeError, match="judge failed"):
        evaluate()
    (failed,) = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id],
        filter_string="attributes.run_name = 'evaluate'",
    )
    assert failed.info.status == "FAILED"
    assert _totals(failed.data.metrics)["llm.calls"] == 1
    assert failed.data.metrics["llm.cost_usd"] > 0


@pytest.mark.slow
def test_totals_and_status_spooled_in_an_outage_arrive_when_the_server_is_back(
    tmp_path: Any,
    clients: dict,
    fake_llm: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    import mlflow

    import mltrack
    from mltrack.llm import track_llm
    from mltrack.localserver import kill_group, start_server

    server = start_server(root=tmp_path / "server")
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.setenv("MLTRACK_LOGGING__RETRY_INTERVAL_S", "3600")  # no replay by itself
        # MLflow's trace export (not mltrack's data) retries a dead server for 500 s.
        monkeypatch.setenv("MLFLOW_ASYNC_TRACE_LOGGING_RETRY_TIMEOUT", "1")
        mlflow.set_tracking_uri(server.url)
        with mltrack.run("outage", experiment="llm-outage", autolog=False) as run:
            with track_llm(name="batch") as tracker:
                clients["openai"].chat.completions.create(
                    model="gpt-4o-mini", messages=_messages("before")
                )
                kill_group(server.process)  # the server dies; its store stays
                clients["openai"].chat.completions.create(
                    model="gpt-4o-mini", messages=_messages("during")
                )
            mltrack.log_metric("score", 0.5)
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mltrack:")]
        assert len(lines) == 1, lines
        assert re.fullmatch(
            rf"mltrack: tracking server {re.escape(server.url)} unreachable: \d+ values and the "
            r"status of run 'outage' \(FINISHED\) spooled to \.mltrack/spool/[0-9a-f]{12}; "
            r"they will be sent when it is back",
            lines[0],
        ), lines[0]

        server.restart()
        info = mltrack.get_run(run.id)  # replays the spool now that the server answers
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mltrack:")]
        assert re.fullmatch(
            rf"mltrack: tracking server {re.escape(server.url)} is back: sent the \d+ spooled "
            r"values and the status of 1 run",
            lines[0],
        ), lines
        assert info.status == "FINISHED"
        assert info.metrics["score"] == 0.5
        assert info.metrics["llm.calls"] == 2 == len(tracker.calls)
        assert info.metrics["llm.cost_usd"] == pytest.approx(tracker.cost_usd, rel=1e-12)
        assert info.metrics["llm.tokens.output"] == tracker.tokens_output
    finally:
        mlflow.flush_trace_async_logging()
        server.stop()
        mlflow.set_tracking_uri(None)


_LAZY_PROBE = """
import json, sys, warnings
import mlflow, openai
from mltrack import track_llm

openai_url, anthropic_url = sys.argv[1:3]
client = openai.OpenAI(base_url=openai_url, api_key="sk-probe")
with track_llm(name="openai-only", start_run=False) as first:
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two"}])
anthropic_before = "anthropic" in sys.modules

import anthropic  # only now, after the first tracked call
from anthropic.resources.messages import Messages

with track_llm(name="late-anthropic", start_run=False, budget_usd=1e-9) as late:
    anthropic.Anthropic(base_url=anthropic_url, api_key="sk-probe").messages.create(
        model="claude-haiku-4-5", max_tokens=16,
        messages=[{"role": "user", "content": "three four five"}])
    try:  # the budget is spent: the gate must refuse this one before it is sent
        anthropic.Anthropic(base_url=anthropic_url, api_key="sk-probe").messages.create(
            model="claude-haiku-4-5", max_tokens=16,
            messages=[{"role": "user", "content": "refused"}])
        refused = False
    except Exception as exc:
        refused = type(exc).__name__ == "BudgetExceeded"
mlflow.flush_trace_async_logging()
print(json.dumps({
    "anthropic_before": anthropic_before,
    "first": [[c.model, c.provider, c.input_tokens] for c in first.calls],
    "late": [[c.model, c.provider, c.input_tokens, c.output_tokens] for c in late.calls],
    "late_cost": late.cost_usd,
    "refused": refused,
    "gated": getattr(Messages.__dict__["create"], "__mltrack_gate__", False),
    "own_loader": type(anthropic.__spec__.loader).__module__ != "mltrack.llm._instrument",
    "finder_gone": not any(type(f).__name__ == "_SDKFinder" for f in sys.meta_path),
}))
"""


def test_sdk_instrumented_when_imported_not_before(
    tmp_path: Any, tracking_uri: str, fake_llm: FakeLLMServer
) -> None:
    """A tracked OpenAI call does not import Anthropic's SDK; importing it later, after
    the first tracked call, still gets its calls priced, recorded and budget-gated."""
    import os
    import subprocess
    import sys

    fake_llm.reset()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE, fake_llm.openai_base_url, fake_llm.anthropic_base_url],
        env={**base, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONWARNINGS": "ignore"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    answered = fake_llm.calls()
    assert [c["model"] for c in answered] == ["gpt-4o-mini", "claude-haiku-4-5"]  # 3rd refused
    assert seen["anthropic_before"] is False
    assert seen["first"] == [["gpt-4o-mini", "openai", answered[0]["input_tokens"]]]
    late = answered[1]
    assert seen["late"] == [
        ["claude-haiku-4-5", "anthropic", late["input_tokens"], late["output_tokens"]]
    ]
    expected = _catalog_cost("claude-haiku-4-5", _mlflow_usage(late), "anthropic")
    assert seen["late_cost"] == pytest.approx(expected["total_cost"], rel=1e-12)
    assert seen["refused"] and seen["gated"]
    assert seen["own_loader"] and seen["finder_gone"]


def test_cli_report_of_an_experiment_without_llm_calls_says_so(tracking_uri: str) -> None:
    import mlflow

    name = "no-llm-" + uuid.uuid4().hex[:6]
    mlflow.create_experiment(name)
    proc = ml_in_process("llm", "report", name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"no LLM calls in '{name}' (0 traces read): trace them with @mltrack.track_llm or "
        "`with mltrack.track_llm():`"
    ]
    as_json = json.loads(ml_in_process("llm", "report", name, "--format", "json").stdout)
    assert as_json["total"]["calls"] == 0 and as_json["rows"] == []  # JSON keeps its shape
