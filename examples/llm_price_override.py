"""Price a private (fine-tuned or self-hosted) model that MLflow's catalog does not know.

Prices go in ``.mltrack.yml`` under ``llm.prices``, in US dollars per million tokens.
This example writes that file into a scratch project directory and runs from there.
"""

import os
import tempfile
from pathlib import Path

import mlflow
from openai import OpenAI

from mltrack import track_llm
from mltrack.testing import FakeLLMServer

CONFIG = """\
llm:
  prices:
    acme-support-7b:
      input_per_million: 0.40
      output_per_million: 1.60
"""

home = os.getcwd()
with tempfile.TemporaryDirectory() as project, FakeLLMServer() as llm:
    Path(project, ".mltrack.yml").write_text(CONFIG)
    os.chdir(project)
    try:
        client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")
        with track_llm(name="private-model", start_run=False) as usage:
            client.chat.completions.create(
                model="acme-support-7b",
                messages=[{"role": "user", "content": "Reset my password please"}],
            )
        mlflow.flush_trace_async_logging()  # before the scratch directory goes away
    finally:
        os.chdir(home)

call = usage.calls[0]
print(f"model={call.model} tokens in/out={call.input_tokens}/{call.output_tokens}")
print(f"cost=${call.cost_usd:.8f} (price source: {call.price_source})")
expected = (call.input_tokens * 0.40 + call.output_tokens * 1.60) / 1e6
print(f"check: {call.input_tokens} x $0.40/M + {call.output_tokens} x $1.60/M = ${expected:.8f}")

# --- checks ---
assert call.model == "acme-support-7b" and call.input_tokens > 0 and call.output_tokens > 0
assert call.cost_usd is not None and abs(call.cost_usd - expected) < 1e-15, (call, expected)
assert usage.cost_complete and usage.unpriced_calls == 0
