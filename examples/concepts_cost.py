"""Cost tracking: LLM dollars from token usage, compute time from the run.

An evaluation run calls an LLM (the local fake server stands in for OpenAI; in your code
drop `FakeLLMServer` and `base_url`). mltrack prices each call with MLflow's model catalog
and adds the totals to the run as `llm.*` metrics. Compute cost is not something mltrack
guesses: the run records its duration, and the script turns that into dollars with the
hourly price of its machine.
"""
# livedocs: snapshot_mask=(=\s\$|compute\.cost_usd=)[0-9.e-]+

import mlflow
from openai import OpenAI

import mltrack
from mltrack.testing import FakeLLMServer

HOURLY_PRICE_USD = 0.34  # the machine's price per hour (your cloud bill says what it is)

with FakeLLMServer() as llm:
    client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")
    questions = ["What is MLflow?", "What does a model registry do?", "Why track experiments?"]

    with mltrack.run("rag-eval", params={"model": "gpt-4o-mini"}) as run:
        with mltrack.track_llm(name="answers", budget_usd=1.0) as tracker:
            for question in questions:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
                )
        print(
            f"{len(tracker.calls)} calls, {tracker.tokens_input} input + "
            f"{tracker.tokens_output} output tokens, ${tracker.cost_usd:.6f}"
        )
        for call in tracker.calls:
            print(
                f"  {call.model}: {call.input_tokens}+{call.output_tokens} tokens, "
                f"${call.cost_usd:.7f} ({call.price_source}), {call.latency_ms:.0f} ms"
            )

# The run is complete once its block returns: its llm.* totals, end time and status are
# on the server.
info = mltrack.get_run(run.id)
compute_usd = info.duration_s / 3600 * HOURLY_PRICE_USD
mlflow.MlflowClient().log_metric(run.id, "compute.cost_usd", compute_usd)
print(f"\nrun {info.name}: {info.status}")
for key in ("llm.calls", "llm.tokens.input", "llm.tokens.output", "llm.cost_usd"):
    print(f"  {key + ':':20}{info.metrics[key]:.6g}")
print(f"  {'llm.latency_p50_ms:':20}{info.metrics['llm.latency_p50_ms']:.0f} ms")
print(f"compute: {info.duration_s:.2f} s x ${HOURLY_PRICE_USD}/h = ${compute_usd:.6f}")

# --- checks ---
import math  # noqa: E402

stored = mlflow.MlflowClient().get_run(run.id)  # what the server holds, read back
totals = stored.data.metrics
assert stored.info.status == "FINISHED", stored.info.status
assert totals["llm.calls"] == len(tracker.calls) == len(questions) == 3, totals
assert totals["llm.tokens.input"] == tracker.tokens_input == 12, totals
assert totals["llm.tokens.output"] == tracker.tokens_output == 21, totals
assert math.isclose(totals["llm.cost_usd"], tracker.cost_usd, rel_tol=1e-9), totals
assert tracker.cost_usd > 0 and tracker.cost_complete, "every call priced, cost > 0"
assert totals["llm.calls_unpriced"] == 0, totals
assert all(call.price_source == "mlflow-catalog" for call in tracker.calls), tracker.calls
assert totals["llm.by_model.gpt-4o-mini.calls"] == 3, totals
assert math.isclose(totals["compute.cost_usd"], compute_usd, rel_tol=1e-9) and compute_usd > 0
