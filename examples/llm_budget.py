"""A budget: one warning at 80% of it, then ``BudgetExceeded`` before the next request."""

import warnings

from openai import OpenAI

from mltrack import track_llm
from mltrack.errors import BudgetExceeded
from mltrack.llm import BudgetWarning
from mltrack.testing import FakeLLMServer

warnings.simplefilter("always", BudgetWarning)
warnings.showwarning = lambda message, *_: print(f"warning: {message}")  # show them inline

with FakeLLMServer() as llm:
    client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")

    @track_llm(budget_usd=0.0002, warn_at=0.8, start_run=False)
    def summarize(text: str) -> str:
        reply = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": f"Summarize: {text}"}],
        )
        return reply.choices[0].message.content

    try:
        for day in range(1, 20):
            summarize(f"report of day {day}")
            spent = summarize.llm_tracker().cost_usd
            print(f"day {day}: spent ${spent:.6f}")
    except BudgetExceeded as exc:
        print(f"stopped: {exc}")
    print(f"requests sent to the API: {len(llm.calls())}")

# --- checks ---
tracker = summarize.llm_tracker()
before_last = sum(call.cost_usd for call in tracker.calls[:-1])
assert before_last < 0.0002 <= tracker.cost_usd, "requests stop once the budget is reached"
assert len(tracker.calls) == day - 1, "the call that would overspend was never sent"
assert 1 < len(tracker.calls) < 19, len(tracker.calls)
