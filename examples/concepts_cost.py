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

info = mltrack.get_run(run.id)
compute_usd = info.duration_s / 3600 * HOURLY_PRICE_USD
mlflow.MlflowClient().log_metric(run.id, "compute.cost_usd", compute_usd)
llm_metrics = {k: v for k, v in sorted(info.metrics.items()) if not k.startswith("llm.by_")}
print("\nrun metrics:", llm_metrics)
print(f"compute: {info.duration_s:.2f} s x ${HOURLY_PRICE_USD}/h = ${compute_usd:.6f}")
