"""Anthropic Messages API, sync and async, inside your own MLflow run.

Inside an active run (``mltrack.run``, ``@mltrack.track`` or ``mlflow.start_run``) the
calls add up in that run's ``llm.*`` metrics instead of starting new runs.
"""

import asyncio

import anthropic
import mlflow

from mltrack import track_llm
from mltrack.llm import flush_metrics
from mltrack.testing import FakeLLMServer

with FakeLLMServer() as llm, mlflow.start_run(run_name="support-bot") as run:
    sync_client = anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="sk-ant-fake")
    async_client = anthropic.AsyncAnthropic(base_url=llm.anthropic_base_url, api_key="sk-ant-fake")

    @track_llm
    def triage(ticket: str) -> str:
        message = sync_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            system="Classify the support ticket.",
            messages=[{"role": "user", "content": ticket}],
        )
        return message.content[0].text

    @track_llm(name="draft_reply")
    async def draft(ticket: str) -> str:
        message = await async_client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=200,
            messages=[{"role": "user", "content": f"Draft a reply to: {ticket}"}],
        )
        return message.content[0].text

    print(triage("My training run crashed"))
    print(asyncio.run(draft("My training run crashed")))

flush_metrics()  # totals of a run you started are sent in the background; send them now
metrics = mlflow.get_run(run.info.run_id).data.metrics
for key in ("llm.calls", "llm.tokens.input", "llm.tokens.output", "llm.cost_usd"):
    print(f"{key:18} {metrics[key]:.8g}")
print(
    "by model:",
    {k: round(v, 8) for k, v in metrics.items() if k.endswith(".cost_usd") and ".by_model." in k},
)

# --- checks ---
assert metrics["llm.calls"] == 2, metrics
assert metrics["llm.tokens.input"] > 0 and metrics["llm.tokens.output"] > 0, metrics
by_model = {k: v for k, v in metrics.items() if k.startswith("llm.by_model.")}
assert by_model["llm.by_model.claude-haiku-4-5.calls"] == 1, by_model
assert by_model["llm.by_model.claude-sonnet-4-6.calls"] == 1, by_model
parts = [v for k, v in by_model.items() if k.endswith(".cost_usd")]
assert metrics["llm.cost_usd"] > 0 and abs(sum(parts) - metrics["llm.cost_usd"]) < 1e-12
since = f"attributes.start_time >= {run.info.start_time}"
later = mlflow.search_runs(filter_string=since, output_format="list")
assert [r.info.run_id for r in later] == [run.info.run_id], "no run besides support-bot"
