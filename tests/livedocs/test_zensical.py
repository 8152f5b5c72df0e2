"""The same Markdown built by MkDocs (plugin) and by Zensical (superfences fence).

Real tools in a throwaway project: `ml docs run` executes, `mkdocs build` and
`zensical build` render from the same cache, and the livedocs blocks must match.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MKDOCS_YML = """\
site_name: zensical fence test
theme:
  name: material
plugins:
  - livedocs:
      reference: false
markdown_extensions:
  - admonition
  - attr_list
  - md_in_html
  - pymdownx.highlight
  - pymdownx.superfences:
      custom_fences:
        - name: livedocs
          class: livedocs
          format: !!python/name:mltrack.livedocs.fence.format_livedocs
        - name: python
          class: highlight
          validator: !!python/name:mltrack.livedocs.fence.validate_snippet
          format: !!python/name:mltrack.livedocs.fence.format_livedocs
  - pymdownx.tabbed:
      alternate_style: true
"""

HELLO_PY = """\
print("\\x1b[32mhello from livedocs\\x1b[0m")
print(6 * 7)
# --- checks ---
assert 6 * 7 == 42
"""

# Front matter: MkDocs hands the plugin the Markdown without it, so the blocks' lines
# are counted from the file's start all the same.
INDEX_MD = """\
---
title: Fence test
---

# Fence test

```livedocs
file: examples/hello.py
```

!!! note "Inside an admonition"

    ```livedocs
    cli: python -c "print('from the cli')"
    ```

```python livedocs
print("snippet says", 1 + 1)
```

```python
print("a plain block stays a plain block")
```
"""


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    # `zensical build --clean` empties .cache/: keep the livedocs cache apart (as make does).
    env.update(NO_MKDOCS_2_WARNING="1", MLTRACK_DOCS__CACHE_DIR=".zensical-livedocs")
    return env


def _run(root: Path, *args: str, strict: bool = False) -> subprocess.CompletedProcess[str]:
    env = _env(root)
    if strict:
        env["MLTRACK_LIVEDOCS_STRICT"] = "1"
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _blocks(page_html: str) -> list[str]:
    """The livedocs renderings of a page, tab ids normalised (each tool numbers its own)."""
    body = page_html[page_html.index("<article") : page_html.index("</article>")]
    body = re.sub(r"__(?:tabbed|livedocs\d+)_(\d+)", r"__tabs_\1", body)
    body = re.sub(r'data-tabs="\d+:', 'data-tabs="N:', body)
    body = re.sub(r'id="__tabs_\d+_(\d+)"', r'id="__tabs_\1"', body)
    body = re.sub(r'for="__tabs_\d+_(\d+)"', r'for="__tabs_\1"', body)
    body = re.sub(r'name="__tabs_\d+"', 'name="__tabs"', body)
    body = re.sub(r'id="__span-(?:ld\d+x)?\d+-', 'id="__span-N-', body)
    blocks = []
    for start in (m.start() for m in re.finditer(r'<div class="livedocs"', body)):
        depth = 0
        for tag in re.finditer(r"<div\b|</div>", body[start:]):
            depth += 1 if tag.group(0) == "<div" else -1
            if depth == 0:
                blocks.append(body[start : start + tag.end()])
                break
    return blocks


def test_zensical_renders_livedocs_blocks_like_mkdocs_and_fails_strictly(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "mkdocs.yml").write_text(MKDOCS_YML)
    (root / "examples" / "hello.py").write_text(HELLO_PY)
    (root / "docs" / "index.md").write_text(INDEX_MD)

    ran = _run(root, "mltrack", "docs", "run")
    assert ran.returncode == 0 and "3 executed" in ran.stdout, ran.stdout + ran.stderr
    built = _run(root, "mkdocs", "build", "--strict", "--site-dir", "site-mkdocs")
    assert built.returncode == 0, built.stderr[-3000:]
    assert "executed" not in built.stderr  # rendered from the cache, nothing ran again
    zensical = _run(root, "zensical", "build", "--clean", strict=True)
    assert zensical.returncode == 0, zensical.stdout[-2000:] + zensical.stderr[-3000:]

    mkdocs_page = (root / "site-mkdocs" / "index.html").read_text()
    zensical_page = (root / "site" / "index.html").read_text()
    mkdocs_blocks, zensical_blocks = _blocks(mkdocs_page), _blocks(zensical_page)
    assert len(mkdocs_blocks) == 3
    assert zensical_blocks == mkdocs_blocks
    for text in ("hello from livedocs", "from the cli", "snippet says 2", 'class="ansi-fg-green"'):
        assert text in zensical_blocks[0] + zensical_blocks[1] + zensical_blocks[2]
    assert "not executed" not in mkdocs_page
    # The hidden checks section stays hidden; a plain python block is left to the highlighter.
    assert "assert" not in zensical_blocks[0]
    assert "a plain block stays a plain block" in re.sub(r"<[^>]+>", "", zensical_page)
    # Two tab sets on one page keep distinct radio ids (each block converts on its own).
    ids = re.findall(r'<input[^>]* id="(__livedocs[^"]+)"', zensical_page)
    assert len(ids) == 4 and len(set(ids)) == 4
    spans = re.findall(r'id="(__span-[^"]+)"', zensical_page)
    assert len(spans) == len(set(spans))  # code line ids too

    # A failing check: the Zensical build fails with the MkDocs build's message.
    (root / "examples" / "bad.py").write_text(
        'print("about to check")\n# --- checks ---\nassert 6 * 7 == 41, "the answer moved"\n'
    )
    (root / "docs" / "bad.md").write_text(
        "# Bad\n\ntext\n\n```livedocs\nfile: examples/bad.py\n```\n"
    )
    ran = _run(root, "mltrack", "docs", "run")
    assert "1 failed" in ran.stdout, ran.stdout + ran.stderr
    failed = _run(root, "zensical", "build", "--clean", strict=True)
    assert failed.returncode != 0
    assert (
        "docs/bad.md:5 -> examples/bad.py:3: AssertionError: the answer moved"
        in failed.stdout + failed.stderr
    )

    # A block nobody executed fails too, naming the page line and the fix.
    (root / "examples" / "bad.py").unlink()
    (root / "examples" / "new.py").write_text("print('new')\n# --- checks ---\nassert True\n")
    (root / "docs" / "bad.md").write_text("# New\n\n```livedocs\nfile: examples/new.py\n```\n")
    never = _run(root, "zensical", "build", "--clean", strict=True)
    assert never.returncode != 0
    assert (
        "docs/bad.md:3: examples/new.py was never executed; run `ml docs run`"
        in never.stdout + never.stderr
    )
