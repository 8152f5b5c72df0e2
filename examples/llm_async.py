"""Async calls, run concurrently, tracked by one ``async with track_llm(...)`` block."""

import asyncio

from openai import AsyncOpenAI

from mltrack import track_llm
from mltrack.testing import FakeLLMServer


async def main(base_url: str):
    client = AsyncOpenAI(base_url=base_url, api_key="sk-fake")
    questions = ["Define a run.", "Define a trace.", "Define a span."]
    async with track_llm(name="glossary") as usage:
        replies = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="gpt-4.1-mini", messages=[{"role": "user", "content": q}]
                )
                for q in questions
            )
        )
    for reply in replies:
        print(reply.choices[0].message.content)
    print(f"{len(usage.calls)} calls, ${usage.cost_usd:.8f}, p50 {usage.latency_p50_ms:.1f} ms")
    return usage


with FakeLLMServer() as llm:
    usage = asyncio.run(main(llm.openai_base_url))

# --- checks ---
import mlflow  # noqa: E402

assert len(usage.calls) == 3 and usage.cost_usd > 0, usage.calls
(run,) = mlflow.search_runs(
    filter_string="attributes.run_name = 'glossary'", max_results=1, output_format="list"
)
assert run.data.metrics["llm.calls"] == 3, run.data.metrics
assert abs(run.data.metrics["llm.cost_usd"] - usage.cost_usd) < 1e-12, run.data.metrics
