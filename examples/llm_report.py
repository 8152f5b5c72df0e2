"""Make a few calls with two models, then ask ``ml llm report`` for the cost table.

The report is built from the traces stored in MLflow, so it works for any process that
traced LLM calls, not only this one.
"""

# livedocs: timeout=180
# livedocs: snapshot_mask=(?m)\**[0-9.]+\**\s\|$
import subprocess
import sys

import anthropic
import mlflow
from openai import OpenAI

from mltrack import track_llm
from mltrack.testing import FakeLLMServer

with FakeLLMServer() as llm:
    gpt = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")
    claude = anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="sk-ant-fake")
    with track_llm(name="report-demo"):
        for topic in ("runs", "models", "traces"):
            gpt.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"Explain {topic}"}]
            )
        claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=[{"role": "user", "content": "Explain experiments"}],
        )

mlflow.flush_trace_async_logging()  # traces are exported in the background
experiment = mlflow.get_experiment(
    mlflow.get_run(mlflow.last_active_run().info.run_id).info.experiment_id
)
for by in ("model", "provider"):
    report = subprocess.run(
        [sys.executable, "-m", "mltrack", "llm", "report", experiment.name, "--by", by, "--format", "markdown"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(report.stdout)

# --- checks ---
# The provider table just printed, and the model table, count the four calls.
assert "| **total** | **4** |" in report.stdout, report.stdout
assert "| openai | 3 |" in report.stdout and "| anthropic | 1 |" in report.stdout
by_model = subprocess.run(
    [sys.executable, "-m", "mltrack", "llm", "report", experiment.name, "--by", "model", "--format", "markdown"],
    capture_output=True, text=True, check=True,
).stdout  # fmt: skip
assert "| gpt-4o-mini | 3 |" in by_model and "| claude-haiku-4-5 | 1 |" in by_model, by_model
