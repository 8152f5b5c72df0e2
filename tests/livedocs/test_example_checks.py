"""Examples prove what their page says: every example ends with checks that the build runs.

A script's checks are the trailing ``# --- checks ---`` section (asserts reading the state
back from MLflow); a notebook's are a last cell tagged ``livedocs-checks``. Both run with
the example, are never shown on the page, and a failing one fails the strict build with
``page:line -> file:line`` pointing at the failing assert.
"""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import pytest

from mltrack.livedocs.directives import find_directives
from mltrack.livedocs.model import Item, ItemResult
from mltrack.livedocs.render import checks_start, render_directive
from tests._helpers import files_containing
from tests.livedocs.test_livedocs_build import (
    MKDOCS_YML,
    NOTEBOOK,
    build_env,
    directive,
    leftovers,
    make_project,
    mkdocs,
    tagged_processes,
)

ROOT = Path(__file__).resolve().parents[2]

#: Example files that check nothing, each with the reason. Only pure ``--help``-style
#: captures belong here: anything that demonstrates a result must assert it.
WITHOUT_CHECKS: dict[str, str] = {}


def _examples() -> list[str]:
    found = []
    for path in sorted((ROOT / "examples").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if not any(part.startswith(("_", ".")) for part in rel.parts):
            found.append(rel.as_posix())
    return found


def _notebooks() -> list[str]:
    return [
        p.relative_to(ROOT).as_posix()
        for p in sorted((ROOT / "notebooks").rglob("*.ipynb"))
        if ".ipynb_checkpoints" not in p.parts
    ]


def _asserts(source: str) -> int:
    return sum(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(source)))


def script_checks(source: str) -> int:
    """Asserts in the ``# --- checks ---`` section of a script (0 without one)."""
    lines = source.split("\n")
    start = checks_start(lines)
    if start is None:
        return 0
    # Parsed as part of the whole file: a section may continue an open block.
    total, before = _asserts(source), _asserts("\n".join(lines[:start]) + "\n")
    return total - before


def notebook_checks(source: str) -> int:
    """Asserts in the notebook's cells tagged ``livedocs-checks``."""
    nb = json.loads(source)
    count = 0
    for cell in nb.get("cells", []):
        if "livedocs-checks" in cell.get("metadata", {}).get("tags", []):
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            count += _asserts(text)
    return count


def test_every_example_and_notebook_checks_what_it_shows() -> None:
    missing = [
        rel
        for rel in _examples()
        if rel not in WITHOUT_CHECKS and script_checks((ROOT / rel).read_text()) == 0
    ]
    missing += [rel for rel in _notebooks() if notebook_checks((ROOT / rel).read_text()) == 0]
    assert missing == [], (
        f"these examples check nothing: {', '.join(missing)}; end each with a "
        "'# --- checks ---' section of asserts (notebooks: a last cell tagged "
        "livedocs-checks), see docs/contributing.md#checks"
    )


def test_the_allowlist_names_existing_files_with_a_reason() -> None:
    for rel, reason in WITHOUT_CHECKS.items():
        assert (ROOT / rel).is_file(), f"{rel} is allowlisted but does not exist"
        assert reason.strip(), f"{rel} needs a reason to be allowlisted"


SOURCE = """\
# livedocs: timeout=60
total = sum([1, 2, 3])  # (1)!
print(total)

# (1)! Adds them up.

# --- checks ---
assert total == 6, "the sum is wrong"  # HIDDENCHECK
"""


def _render(root: Path, options: str) -> str:
    (root / "examples").mkdir(exist_ok=True)
    (root / "examples" / "a.py").write_text(SOURCE)
    found = find_directives("docs/p.md", f"```livedocs\nfile: examples/a.py\n{options}```\n")
    item = Item(id="examples/a.py", kind="script", path="examples/a.py")
    result = ItemResult(id=item.id, key="k", ok=True, output="6\n", returncode=0)
    return render_directive(root, found[0], item, result).markdown


@pytest.mark.parametrize("options", ["", "lines: 2-9\n", "lines: 8\n"])
def test_the_checks_section_is_not_in_the_code_tab(tmp_path: Path, options: str) -> None:
    markdown = _render(tmp_path, options)
    assert "HIDDENCHECK" not in markdown and "--- checks ---" not in markdown
    if options != "lines: 8\n":
        assert "total = sum([1, 2, 3])  # (1)!" in markdown and "1. Adds them up." in markdown
        assert "# (1)! Adds them up." not in markdown  # notes before the section still notes


def test_counting_checks() -> None:
    assert script_checks(SOURCE) == 1
    assert script_checks("assert True\nprint(1)\n") == 0  # no section: no checks
    nb = dict(NOTEBOOK, cells=[*NOTEBOOK["cells"], _checks_cell("assert 1 == 1")])
    assert notebook_checks(json.dumps(nb)) == 1
    assert notebook_checks(json.dumps(NOTEBOOK)) == 0


def _checks_cell(source: str) -> dict[str, object]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "checks",
        "metadata": {"tags": ["livedocs-checks"]},
        "outputs": [],
        "source": [source],
    }


PASSING = """\
import mlflow

with mlflow.start_run(run_name="checked-run") as run:
    mlflow.log_metric("score", 0.875)
print("logged the score")

# --- checks ---
from mlflow import MlflowClient

metrics = MlflowClient().get_run(run.info.run_id).data.metrics  # HIDDENCHECKSCRIPT
assert metrics == {"score": 0.875}, metrics
"""

FAILING = """\
import mlflow

with mlflow.start_run(run_name="claims-a-score") as run:
    mlflow.log_metric("score", 0.5)
print("the score is 0.9")

# --- checks ---
from mlflow import MlflowClient

score = MlflowClient().get_run(run.info.run_id).data.metrics["score"]
assert score > 0.8, f"the page claims a score above 0.8, the run has {score}"
"""


@pytest.mark.slow
def test_checks_run_hidden_and_a_failing_check_fails_the_strict_build(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        {"passing.py": PASSING},
        "# Home\n\n"
        + directive("examples/passing.py")
        + "```python livedocs\nx = 6 * 7\nprint(x)\n# --- checks ---\nassert x == 42  # HIDDENSNIPPET\n```\n",
    )
    notebook = dict(
        NOTEBOOK, cells=[*NOTEBOOK["cells"], _checks_cell("assert 6 * 7 == 42  # HIDDENNB")]
    )
    (root / "notebooks").mkdir()
    (root / "notebooks" / "tiny.ipynb").write_text(json.dumps(notebook))
    # With the search index and the notebook offered for download, as on the real site.
    config = MKDOCS_YML.replace("plugins:\n", "plugins:\n  - search\n")
    (root / "mkdocs.yml").write_text(
        config.replace("execute: false", "execute: false\n      include_source: true")
    )
    tmp, tag = tmp_path / "tmp", uuid.uuid4().hex
    env = build_env(tmp, tag)

    # Passing checks: the build is green, and no rendered page, search index or
    # downloadable notebook holds the checks.
    ok = mkdocs(root, env, "--strict")
    assert ok.returncode == 0, ok.stderr
    site = root / "site"
    assert "logged the score" in (site / "index.html").read_text()
    assert "answer 42" in (site / "notebooks/tiny/index.html").read_text()
    assert b"logged the score" in (site / "search/search_index.json").read_bytes()
    assert (site / "notebooks/tiny/tiny.ipynb").is_file()  # the downloadable copy
    for needle in (b"HIDDENCHECKSCRIPT", b"HIDDENSNIPPET", b"HIDDENNB", b"--- checks ---"):
        assert files_containing(site, needle) == [], needle
    assert leftovers(tmp) == [] and tagged_processes(tag) == []

    # A check that fails: the claim on the page is false, so the strict build fails and
    # points from the page at the failing assert.
    (root / "examples" / "failing.py").write_text(FAILING)
    (root / "docs" / "index.md").write_text("# Home\n\n" + directive("examples/failing.py"))
    wrong = _checks_cell("total = 6 * 7\nassert total == 40, f'the page says 40, got {total}'")
    notebook["cells"] = [*NOTEBOOK["cells"], wrong]
    (root / "notebooks" / "tiny.ipynb").write_text(json.dumps(notebook))
    bad = mkdocs(root, env, "--strict")
    assert bad.returncode != 0
    assert (
        "docs/index.md:3 -> examples/failing.py:11: AssertionError: the page claims a score "
        "above 0.8, the run has 0.5" in bad.stderr
    ), bad.stderr
    assert '11 | assert score > 0.8, f"the page claims' in bad.stderr  # the failing line
    # a notebook's checks cell: the cell and the line in it
    assert "notebooks/tiny.ipynb:cell 2:2: AssertionError: the page says 40, got 42" in bad.stderr
    assert leftovers(tmp) == [] and tagged_processes(tag) == []
