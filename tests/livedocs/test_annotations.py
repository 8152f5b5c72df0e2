"""Code annotations: ``# (N)!`` markers in an example, notes at its end, Material's list."""

from __future__ import annotations

from pathlib import Path

import pytest

from mltrack.errors import LiveDocsError
from mltrack.livedocs.directives import find_directives
from mltrack.livedocs.model import Item, ItemResult
from mltrack.livedocs.render import render_directive

SOURCE = """\
# livedocs: timeout=60
import json

data = {"a": 1}  # (2)!
print(json.dumps(data))  # (1)!

# (1)! Printed as JSON.
# (2)! A plain dict.
"""


def _render(root: Path, options: str) -> str:
    (root / "examples").mkdir(exist_ok=True)
    (root / "examples" / "a.py").write_text(SOURCE)
    directive = find_directives("docs/p.md", f"```livedocs\nfile: examples/a.py\n{options}```\n")
    item = Item(id="examples/a.py", kind="script", path="examples/a.py")
    result = ItemResult(id=item.id, key="k", ok=True, output='{"a": 1}\n', returncode=0)
    return render_directive(root, directive[0], item, result).markdown


def test_markers_are_numbered_as_shown_and_notes_follow_the_block(tmp_path: Path) -> None:
    markdown = _render(tmp_path, "show: code\n")
    assert 'data = {"a": 1}  # (1)!' in markdown  # renumbered in the order shown
    assert "print(json.dumps(data))  # (2)!" in markdown
    assert "\n```\n\n1. A plain dict.\n2. Printed as JSON.\n" in markdown
    assert "# (1)! Printed" not in markdown  # the notes at the end are not code


def test_an_excerpt_keeps_only_its_own_notes(tmp_path: Path) -> None:
    markdown = _render(tmp_path, "show: code\nlines: 5\n")
    assert "print(json.dumps(data))  # (1)!" in markdown
    assert "1. Printed as JSON." in markdown and "A plain dict" not in markdown


def test_notes_sit_inside_the_code_tab(tmp_path: Path) -> None:
    markdown = _render(tmp_path, "")
    code_tab, output_tab = markdown.split('=== "Output"')
    assert "    1. A plain dict.\n    2. Printed as JSON." in code_tab


def test_a_marker_without_a_note_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "b.py").write_text("x = 1  # (1)!\ny = 2  # (2)!\n\n# (1)! One.\n")
    directive = find_directives("docs/p.md", "```livedocs\nfile: examples/b.py\nshow: code\n```\n")
    item = Item(id="examples/b.py", kind="script", path="examples/b.py")
    result = ItemResult(id=item.id, key="k", ok=True, output="", returncode=0)
    with pytest.raises(LiveDocsError, match=r"examples/b.py:2: annotation \(2\) has no note"):
        render_directive(tmp_path, directive[0], item, result)
