"""Snapshot normalisation: what changes from run to run is masked, nothing else."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mltrack.errors import LiveDocsError
from mltrack.livedocs.model import Item, ItemResult, RunSummary
from mltrack.livedocs.snapshots import item_masks, mask, masks_of, normalise


def test_mask_hides_volatile_values_and_keeps_the_rest() -> None:
    text = (
        "server http://127.0.0.1:49503 ready\n"
        "run a625c083 in livedocs-examples-insights-py-d0821b at 10:53:57\n"
        "chunks   968,964 rows/s  positive rate 0.564\n"
        "{'llm.calls': 1.0, 'llm.latency_p50_ms': 4.3, 'timeout': 30}\n"
        "mltrack_model_load_seconds 0.116505\n"
        "claude-haiku-4-5 gpt-4o-mini accuracy=0.978\n"
        "| Git commit | `6918975aaadcf48d83d36b8bcada6e3c53660b2b` | request 9e3e948f0c279d14\n"
        "run 50356620 in experiment (id 25), backup mlflow.db.backup-20261125T110116Z\n"
        '  File "mltrack/registry.py", line 809, in _model_version\n'
        "tags: {'mltrack.host': 'vm', 'mltrack.user': 'root', 'team': 'risk'}\n"
        "tags: {'mlflow.user': 'alice', 'mltrack.python': '3.11'}\n"
        "mlflow.source.git.commit 319143883047\n"
        "│ 1a2b3c4d │ logreg │ FINISHED │ 2026-11-30 │\n"
        "AWSTemplateFormatVersion: '2010-09-09'\n"
    )
    assert mask(text) == (
        "server http://127.0.0.1:<port> ready\n"
        "run <id> in livedocs-examples-insights-py-<hash> at <time>\n"
        "chunks <rate> positive rate 0.564\n"
        "{'llm.calls': 1.0, 'llm.latency_p50_ms': <timing>, 'timeout': 30}\n"
        "mltrack_model_load_seconds <timing>\n"
        "claude-haiku-4-5 gpt-4o-mini accuracy=0.978\n"
        "| Git commit | `<id>` | request <id>\n"
        "run <id> in experiment (id <n>), backup mlflow.db.backup-<time>\n"
        '  File "mltrack/registry.py", line <n>, in _model_version\n'
        "tags: {'mltrack.host': '<host>', 'mltrack.user': '<host>', 'team': 'risk'}\n"
        "tags: {'mlflow.user': '<host>', 'mltrack.python': '3.11'}\n"
        "mlflow.source.git.commit <id>\n"
        "│ <id> │ logreg │ FINISHED │ <date> │\n"
        "AWSTemplateFormatVersion: '2010-09-09'\n"
    )


def test_the_python_patch_release_is_masked_and_other_versions_kept() -> None:
    """Two machines with the same Python minor differ in its patch (a distribution's
    3.11.2, pyenv's 3.11.7); another minor, and other packages' versions, stay."""
    major, minor = sys.version_info[:2]
    text = (
        f"mltrack 0.1.0 on Python {major}.{minor}.2\n"
        f"tags: {{'mltrack.python': '{major}.{minor}.17', 'mltrack.mlflow_version': '3.17.2'}}\n"
        f"│ python │ ok │ {major}.{minor}.7 (.venv/bin/python) │\n"
        f"another minor {major}.{minor + 1}.0, a longer number {major}.{minor}.2.1\n"
    )
    assert mask(text) == (
        f"mltrack 0.1.0 on Python {major}.{minor}.<patch>\n"
        f"tags: {{'mltrack.python': '{major}.{minor}.<patch>', 'mltrack.mlflow_version': '3.17.2'}}\n"
        f"│ python │ ok │ {major}.{minor}.<patch> (.venv/bin/python) │\n"
        f"another minor {major}.{minor + 1}.0, a longer number {major}.{minor}.2.1\n"
    )


def test_mask_is_idempotent_and_ignores_table_padding_and_run_order() -> None:
    one = (
        "│ a625c083 │ <duration>    │\n"
        "[run brawny-dolphin-424: FINISHED; params: C=1; metrics: mean_fit_time=0.06]\n"
        "[run search: FINISHED; params: ; metrics: score=0.97]\n"
    )
    two = (
        "│ 655e3e39 │ <duration>     │\n"
        "[run search: FINISHED; params: ; metrics: score=0.97]\n"
        "[run casual-goat-611: FINISHED; params: C=1; metrics: mean_fit_time=0.01]\n"
    )
    assert mask(one) == mask(two)
    assert mask(mask(one)) == mask(one)
    assert "score=0.97" in mask(two)  # quality metrics stay: a change of them is a drift
    # Table rules of any width are one rule; a command's `--option` is not a rule.
    assert mask("┏━━┳━━━━━━┓ ---\n$ ml try --data x.json -n 2\n") == mask(
        "┏━┳━━━━━━━━━━━━┓ ------\n$ ml try --data x.json -n 2\n"
    )
    assert "ml try --data x.json -n 2" in mask("$ ml try --data x.json -n 2\n")


def test_short_ids_of_letters_only_are_masked_where_only_an_id_can_stand() -> None:
    """A short run id is letters only about once in 2,600 runs (`bdacabaa`): CI drifted."""
    text = (
        '│ bdacabaa │ tree-depth-4 │ FINISHED │\n    "id": "bdacabaa",\nrun_id=fedcbaab\n'
        "finished run abcdefab; trial child of `eeeeaaaa`\n"
        "│ defaced │ words that look like hex stay: defaced, acceded │\n"
    )
    assert mask(text) == (
        '│ <id> │ tree-depth-4 │ FINISHED │\n    "id": "<id>",\nrun_id=<id>\n'
        "finished run <id>; trial child of `<id>`\n"
        "│ <id> │ words that look like hex stay: defaced, acceded │\n"
    )


def test_timing_columns_of_tables_are_masked_and_other_numbers_kept() -> None:
    """`ml docs run` prints each item's seconds in a table: no unit for the value masks to
    see, and a different number on every run (3.0 one day, 3.8 the next)."""
    table = (
        "┏━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┓\n"
        "┃ item              ┃ status ┃ seconds ┃ cached ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━╇━━━━━━━━┩\n"
        "│ examples/hello.py │ ok     │ {0}     │ yes    │\n"
        "└───────────────────┴────────┴─────────┴────────┘\n"
        "┃ run   ┃ accuracy ┃\n"
        "│ train │ 0.97     │\n"
    )
    masked = mask(table.format("3.0"))
    assert masked == mask(table.format("13.8"))
    assert "│ examples/hello.py │ ok │ <duration> │ yes │" in masked
    assert "│ train │ 0.97 │" in masked  # a quality column is not a timing
    assert mask(masked) == masked


def test_normalise_applies_the_items_own_masks() -> None:
    result = ItemResult(
        id="examples/cost.py",
        key="k",
        ok=True,
        output="compute: 3.1 s x $0.34/h = $0.000332\n",
        runs=[RunSummary(name="eval", status="FINISHED", params={}, metrics={"f1": 0.5})],
    )
    extra = masks_of(r"=\s\$[0-9.]+", "examples/cost.py")
    assert normalise(result, extra) == (
        "compute: <duration> x $0.34/h <masked>\n[run eval: FINISHED; params: ; metrics: f1=0.5]\n"
    )


def test_snapshot_mask_header_is_read_and_validated(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples/a.py").write_text('"""Doc."""\n# livedocs: snapshot_mask=p50=\\d+\n')
    (tmp_path / "examples/b.py").write_text("print(1)\n")
    items = {
        rel: Item(id=rel, kind="script", path=rel) for rel in ("examples/a.py", "examples/b.py")
    }
    masks = item_masks(tmp_path, items)
    assert list(masks) == ["examples/a.py"]
    assert masks["examples/a.py"][0].pattern == r"p50=\d+"
    with pytest.raises(LiveDocsError, match=r"examples/bad.py: snapshot_mask is not a valid"):
        masks_of("(unclosed", "examples/bad.py")
    assert isinstance(masks["examples/a.py"][0], re.Pattern)
