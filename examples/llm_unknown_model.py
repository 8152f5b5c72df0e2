"""A model with no known price: one clear warning, cost recorded as unknown (never $0)."""

import warnings

from openai import OpenAI

from mltrack import track_llm
from mltrack.llm import UnknownModelPriceWarning
from mltrack.testing import FakeLLMServer

with FakeLLMServer() as llm, warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")
    with track_llm(name="local-llm", start_run=False) as usage:
        for question in ("first question", "second question", "third question"):
            client.chat.completions.create(
                model="my-local-llama", messages=[{"role": "user", "content": question}]
            )

mine = [w for w in caught if issubclass(w.category, UnknownModelPriceWarning)]
for warning in mine:
    print(f"{warning.category.__name__}: {warning.message}")
print(f"warnings: {len(mine)} for {len(usage.calls)} calls")
print(f"costs: {[call.cost_usd for call in usage.calls]}")
print(f"tokens are still counted: input={usage.tokens_input} output={usage.tokens_output}")
print(f"cost complete: {usage.cost_complete} ({usage.unpriced_calls} unpriced calls)")

# --- checks ---
assert len(mine) == 1 and len(usage.calls) == 3, "one warning for three calls"
assert all(call.cost_usd is None for call in usage.calls), "unknown cost, never $0"
assert usage.tokens_input > 0 and usage.tokens_output > 0
assert usage.cost_complete is False and usage.unpriced_calls == 3
