"""The LLM API: track the calls of a function, price them, report them.

`@track_llm` records every OpenAI or Anthropic call made inside the function (tokens,
cost, latency) as MLflow traces and `llm.*` run metrics; `compute_cost` prices one
call; `run_totals` are a run's `llm.*` metrics so far; `llm_report` reads the traces
back. `FakeLLMServer` answers like both APIs, so this runs without a key; in a test,
`fake_reply` and `count_tokens` say what it will answer and what that costs.
"""
# livedocs: snapshot_mask=(?m)\**[0-9.]+\**\s\|$

import mlflow
from openai import OpenAI

from mltrack import track_llm
from mltrack.llm import compute_cost, flush_metrics, run_totals
from mltrack.llm.report import llm_report
from mltrack.testing import FakeLLMServer, count_tokens, fake_reply

with FakeLLMServer() as llm:
    client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")

    @track_llm(name="api-llm")
    def answer(question: str) -> str:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return reply.choices[0].message.content

    replies = {q: answer(q) for q in ("What is a run?", "What is a model version?")}
    for question, reply in replies.items():
        print(question, "->", reply)

tracker = answer.llm_tracker()
print(f"calls: {len(tracker.calls)}, cost: ${tracker.cost_usd:.6f}")
one = compute_cost("gpt-4o-mini", {"input_tokens": 1000, "output_tokens": 500}, "openai", {})
print(f"1000 input + 500 output tokens of gpt-4o-mini: ${one.total:.6f} ({one.source})")

flush_metrics()
mlflow.flush_trace_async_logging()  # traces are exported in the background
run = mlflow.get_run(mlflow.last_active_run().info.run_id)
totals = run_totals(run.info.run_id)
print("last run:", {k: totals[k] for k in ("llm.calls", "llm.tokens.input", "llm.tokens.output")})
expected = fake_reply("gpt-4o-mini", "What is a run?")
print("the fake server answers:", repr(expected), f"({count_tokens(expected)} tokens)")
report = llm_report(mlflow.get_experiment(run.info.experiment_id).name)
print(report.to_markdown())

# --- checks ---
assert replies["What is a run?"] == expected, replies
last_reply = replies["What is a model version?"]  # each call of answer() is a run
assert totals["llm.calls"] == 1 and totals["llm.tokens.output"] == count_tokens(last_reply)
assert len(tracker.calls) == 2 and all(c.model == "gpt-4o-mini" for c in tracker.calls)
assert one.total is not None and one.total > 0, one
assert report.total.calls == 2, report.to_dict()
