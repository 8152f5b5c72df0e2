"""Champion vs challenger with a promotion rule from `.mltrack.yml`.

The rule: the challenger must improve the primary metric by at least `min_improvement`
(relative), and no guard metric may regress by more than its tolerance. Here a challenger
with a better F1 is rejected because it is slower to score (a guard), then a second one
that keeps latency in bounds is accepted.
"""

import os
import tempfile
from pathlib import Path

import mltrack

RULE = """\
promotion:
  metric: val_f1
  min_improvement: 0.01      # at least 1% better
  guard_metrics:
    latency_ms: 0.10         # may be at most 10% slower
"""

with tempfile.TemporaryDirectory() as project:
    os.chdir(project)  # the project whose .mltrack.yml applies
    Path(".mltrack.yml").write_text(RULE)
    print(RULE)

    def log(name: str, **metrics: float) -> str:
        with mltrack.run(name, autolog=False) as run:
            run.log_metrics(metrics)
        return run.id

    champion = log("champion", val_f1=0.86, latency_ms=12.0)
    heavy = log("heavy-challenger", val_f1=0.90, latency_ms=19.0)
    lean = log("lean-challenger", val_f1=0.88, latency_ms=12.5)

    for challenger in (heavy, lean):
        result = mltrack.compare_models(champion, challenger)
        print(f"{result.challenger.run_name}: {result.recommendation}")
        for reason in result.reasons:
            print("   ", reason)
    print()
    print(result.to_markdown())
    os.chdir("/")

# --- checks ---
# The lean challenger (the last compared) passes the rule; the heavy one fails its guard.
assert result.challenger.run_name == "lean-challenger" and result.promote, result.reasons
with tempfile.TemporaryDirectory() as project:
    os.chdir(project)
    Path(".mltrack.yml").write_text(RULE)
    rejected = mltrack.compare_models(champion, heavy)
    os.chdir("/")
assert not rejected.promote and "latency_ms" in " ".join(rejected.reasons), rejected.reasons
