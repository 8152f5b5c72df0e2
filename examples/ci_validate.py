"""Validate the CI files under `examples/ci/` and print them.

Both files are parsed as YAML and checked: the test stage runs the tests and, in a
project with executed docs (an `mkdocs.yml`), `ml docs check`; the environment is
installed from the lock file; credentials come from secrets, never literals; no `ml`
output is piped into a test (a failed command would pass for "no"); every promotion's
reason names the commit; and every `ml` command and option they use exists in the
installed CLI (read from the live command tree), so the files cannot drift from mltrack.
"""
# livedocs: inputs=examples/ci/github-actions.yml,examples/ci/gitlab-ci.yml

import re
import shlex
from pathlib import Path

import typer.main
import yaml

import mltrack
from mltrack.cli import app

CI_DIR = Path(mltrack.__file__).resolve().parent.parent / "examples" / "ci"
root = typer.main.get_command(app)


def scripts(document: dict, kind: str) -> dict[str, list[str]]:
    """Job name -> shell lines it runs."""
    if kind == "github":
        return {
            name: [step["run"] for step in job["steps"] if "run" in step]
            for name, job in document["jobs"].items()
        }
    return {
        name: job["script"]
        for name, job in document.items()
        if isinstance(job, dict) and "script" in job
    }


def check_ml_command(line: str) -> list[str]:
    """Every `ml ...` invocation in a shell line, checked against the live CLI."""
    used = []
    for match in re.finditer(r"\bml ((?:[\w-]+)(?: [^|;&)>]*)?)", line):
        words = shlex.split(match.group(1).replace('"', "").replace("$", ""))
        command = root.commands[words[0]]  # KeyError: a command mltrack does not have
        name = words[0]
        if words[1:2] and hasattr(command, "commands") and words[1] in command.commands:
            command = command.commands[words[1]]
            name += " " + words[1]
        known = {opt for param in command.params for opt in param.opts}
        for word in words:
            assert not word.startswith("--") or word in known, f"ml {words[0]}: unknown {word}"
        used.append(name)
    return used


for name, kind in (("github-actions.yml", "github"), ("gitlab-ci.yml", "gitlab")):
    text = (CI_DIR / name).read_text()
    jobs = scripts(yaml.safe_load(text), kind)
    lines = [line for job in jobs.values() for line in job]
    test_lines = " ".join(jobs["test"])
    assert "pytest" in test_lines and "ml docs check" in test_lines
    assert any("uv sync --locked" in line for line in lines)
    for value in re.findall(r"(?:PASSWORD|TOKEN)\s*:\s*(\S.*)", text):
        assert value.startswith("${{ secrets."), f"{name}: a credential is not a secret: {value}"
    # A pipe's status is its last command's: `ml models ... | python -c ...` failing
    # would read as "no champion" and promote unchecked.
    assert not any(re.search(r"\bml [^|\n]*\|", line) for line in lines), f"{name}: ml piped"
    promotions = [p for line in lines for p in re.findall(r"ml promote [^\n]*", line)]
    sha = "${{ github.sha }}" if kind == "github" else "$CI_COMMIT_SHA"
    assert promotions and all(sha in p for p in promotions), f"{name}: {promotions}"
    if kind == "github":
        docs_steps = [
            step
            for step in yaml.safe_load(text)["jobs"]["test"]["steps"]
            if "docs check" in step.get("run", "") or "mkdocs" in step.get("run", "")
        ]
        assert docs_steps and all("mkdocs.yml" in s.get("if", "") for s in docs_steps)
    else:
        assert any("[ -f mkdocs.yml ]" in line and "docs check" in line for line in lines)
    commands = sorted({c for line in lines for c in check_ml_command(line)})
    print(f"{name}: jobs {list(jobs)}; ml commands used: {', '.join(commands)}  [valid]")

for name in ("github-actions.yml", "gitlab-ci.yml"):
    print(f"\n# ---- examples/ci/{name}\n")
    print((CI_DIR / name).read_text())

# --- checks ---
# Both files were read, and each runs the docs check the page says CI runs.
for name in ("github-actions.yml", "gitlab-ci.yml"):
    text = (CI_DIR / name).read_text()
    assert "ml docs check" in text and "uv sync --locked" in text, name
assert "docs check" in commands, commands
