"""`ml card`: a model card as Markdown on the terminal, or as a standalone HTML file.

A model is saved first; `ml card models:/NAME/1` prints its card as Markdown with YAML
front matter, and `--output card.html` writes the HTML card (the format follows the
file's suffix; `--format markdown|html` chooses it explicitly, `md` is accepted too).
"""

import shlex
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
with mltrack.run("iris-tree", params={"max_depth": 3}, autolog=False) as run:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    run.log_metrics({"accuracy": round(model.score(X, y), 4)})
    mltrack.save(model, "cli-card", run=run, input_example=X.head(2), quiet=True)


def ml(*args: str) -> str:
    print("$ ml", shlex.join(args))
    done = subprocess.run([sys.executable, "-m", "mltrack", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    if lines[0] == "---":  # the YAML front matter: its first lines, then the card's start
        body = lines.index("---", 1) + 1
        lines = [*lines[:4], "…", "---", *lines[body : body + 18], "…"]
    print("\n".join(lines), end="\n\n")
    return done.stdout


markdown = ml("card", "models:/cli-card/1", "--format", "markdown")
ml("card", "models:/cli-card/1", "--output", "card.html")

# --- checks ---
html = Path("card.html").read_text()
assert markdown.startswith("---\n") and "accuracy" in markdown, markdown[:300]
assert html.lstrip().lower().startswith("<!doctype html") and "cli-card" in html, html[:200]
alias = subprocess.run(
    [sys.executable, "-m", "mltrack", "card", "models:/cli-card/1", "-f", "md"],
    capture_output=True,
    text=True,
)
assert alias.returncode == 0 and "accuracy" in alias.stdout, alias.stderr  # md = markdown
