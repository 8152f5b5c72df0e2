"""An LLM app: a support-answer bot with cost tracking, a budget and a tiny evaluation.

The bot picks a prompt template per question category and calls an OpenAI chat model.
`FakeLLMServer` (mltrack.testing) stands in for the API so the example runs offline and
deterministically; in your code, drop it and the `base_url`, nothing else changes.
"""

from openai import OpenAI

import mltrack
from mltrack.testing import FakeLLMServer

TEMPLATES = {
    "billing": "You answer billing questions briefly. Question: {q}",
    "technical": "You are a support engineer. Give the first step to fix: {q}",
}
QUESTIONS = [
    ("billing", "Why was I charged twice this month?"),
    ("technical", "The app crashes when I upload a photo"),
    ("billing", "How do I get an invoice?"),
    ("technical", "Login fails with error 500"),
]

with FakeLLMServer() as llm:
    client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")

    @mltrack.track_llm(name="support-bot", budget_usd=0.01)
    def answer(category: str, question: str, model: str = "gpt-4o-mini") -> str:
        prompt = TEMPLATES[category].format(q=question)
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], max_tokens=60
        )
        return reply.choices[0].message.content

    with mltrack.run("support-bot-eval", params={"model": "gpt-4o-mini", "n": len(QUESTIONS)}):
        hits = 0
        for category, question in QUESTIONS:
            text = answer(category, question)
            hit = question.split()[-1].strip("?").lower() in text.lower()
            hits += hit
            print(f"[{category}] {question} -> {text[:60]}...")
        mltrack.log_metric("answer_mentions_topic", hits / len(QUESTIONS))

tracker = answer.llm_tracker()
print(
    f"\n{len(tracker.calls)} calls, {tracker.tokens_input}+{tracker.tokens_output} tokens, "
    f"${tracker.cost_usd:.6f} of a ${tracker.budget_usd} budget"
)
run = mltrack.get_last_run()
print("run metrics:", {k: round(v, 6) for k, v in sorted(run.metrics.items()) if "by_" not in k})

# --- checks ---
import math  # noqa: E402

import mlflow  # noqa: E402

stored = mlflow.MlflowClient().get_run(run.id)  # what the server holds, read back
metrics = stored.data.metrics
assert run.name == "support-bot-eval" and stored.info.status == "FINISHED", stored.info
assert metrics["answer_mentions_topic"] == 1.0, metrics
assert metrics["llm.calls"] == len(tracker.calls) == len(QUESTIONS), metrics
assert metrics["llm.tokens.input"] == tracker.tokens_input, metrics
assert metrics["llm.tokens.output"] == tracker.tokens_output, metrics
assert math.isclose(metrics["llm.cost_usd"], tracker.cost_usd, rel_tol=1e-9), metrics
assert 0 < tracker.cost_usd < tracker.budget_usd, "spent something, within the budget"
assert metrics["llm.calls_unpriced"] == 0, metrics
