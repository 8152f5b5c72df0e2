"""Async calls, run concurrently, tracked by one ``async with track_llm(...)`` block."""

import asyncio

from openai import AsyncOpenAI

from mltrack import track_llm
from mltrack.testing import FakeLLMServer


async def main(base_url: str) -> None:
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


with FakeLLMServer() as llm:
    asyncio.run(main(llm.openai_base_url))
