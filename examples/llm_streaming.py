"""Streaming: OpenAI (usage in the last chunk) and Anthropic's ``messages.stream`` helper.

OpenAI sends token usage in a stream only when asked with
``stream_options={"include_usage": True}``; without it the call is recorded with unknown
tokens and cost, and mltrack warns once.
"""

import anthropic
from openai import OpenAI

from mltrack import track_llm
from mltrack.testing import FakeLLMServer

with FakeLLMServer() as llm:
    openai_client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")
    claude = anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="sk-ant-fake")

    with track_llm(name="streams") as usage:
        stream = openai_client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Stream a haiku about metrics"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        print("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

        with claude.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": "Stream a haiku about traces"}],
        ) as events:
            print("".join(events.text_stream))

for model, totals in usage.summary()["by_model"].items():
    print(
        f"{model:18} tokens in/out {totals['tokens_input']}/{totals['tokens_output']}"
        f"  ${totals['cost_usd']:.8f}"
    )

# --- checks ---
by_model = usage.summary()["by_model"]
assert set(by_model) == {"gpt-4o", "claude-haiku-4-5"}, by_model
for model, totals in by_model.items():
    assert totals["tokens_input"] > 0 and totals["tokens_output"] > 0, (model, totals)
    assert totals["cost_usd"] > 0, (model, totals)
