"""Track an OpenAI chat call: tokens, cost from MLflow's price catalog, latency.

The OpenAI client talks to mltrack's local fake OpenAI server (no API key, no network);
point ``base_url`` at the real API, or any OpenAI-compatible endpoint, and nothing else
changes.
"""

import mlflow
from openai import OpenAI

from mltrack import track_llm
from mltrack.testing import FakeLLMServer

with FakeLLMServer() as llm:
    client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")

    @track_llm
    def answer(question: str) -> str:
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": question}],
        )
        return reply.choices[0].message.content

    print(answer("What does MLflow track?"))
    print(answer("And what does mltrack add?"))

usage = answer.llm_tracker()  # one budget scope for every call of answer()
print(f"calls={len(usage.calls)} input={usage.tokens_input} output={usage.tokens_output}")
print(f"cost=${usage.cost_usd:.8f} (source: {usage.calls[0].price_source})")

# no run was active, so each call started its own run named "answer"
run = mlflow.search_runs(output_format="list", max_results=1)[0]
print({k: v for k, v in sorted(run.data.metrics.items()) if not k.startswith("llm.by_")})

# --- checks ---
runs = mlflow.search_runs(
    filter_string="attributes.run_name = 'answer'", max_results=2, output_format="list"
)
assert len(runs) == 2 == len(usage.calls), "each call outside a run started its own run"
assert all(r.data.metrics["llm.calls"] == 1 for r in runs), [r.data.metrics for r in runs]
assert usage.tokens_input > 0 and usage.tokens_output > 0 and usage.cost_usd > 0
assert sum(r.data.metrics["llm.cost_usd"] for r in runs) - usage.cost_usd < 1e-12
