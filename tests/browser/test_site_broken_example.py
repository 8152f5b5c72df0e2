"""End to end: a broken example fails the strict build ("CI fails on broken examples").

A minimal project in a temporary directory uses the ``livedocs`` plugin the way the real
site does; its page embeds an example that raises. ``mkdocs build --strict`` must exit
non-zero and name the page line and the example line. The same project built without
``--strict`` (what ``make docs`` does) shows the failure on the page, and the captured
output of a hostile example (HTML-like text, ANSI codes) is escaped, not injected.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from sitehtml import livedocs_markup_problems
from sitekit import build_site

MKDOCS_YML = """\
site_name: broken-example
theme:
  name: material
plugins:
  - livedocs:
      reference: false
markdown_extensions:
  - pymdownx.superfences
  - pymdownx.tabbed:
      alternate_style: true
"""

PAGE = """\
# Broken example

This page embeds an example that prints hostile text, and one that fails.

```livedocs
file: examples/hostile.py
```

```livedocs
file: examples/broken.py
title: Fails on purpose
```
"""

HOSTILE = '''\
"""Prints text that must stay text: tags, entities and ANSI colours."""

print("</code></pre></div></td><b>not bold</b> &amp; <script>alert(1)</script>")
print("\\x1b[1;31mred and bold\\x1b[0m plain")
'''

BROKEN = '''\
"""A deliberately broken example: it must fail the strict build."""

settings = {"answer": 42}
print("about to fail")
print(settings["question"])
'''


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "mkdocs.yml").write_text(MKDOCS_YML)
    (root / "docs" / "index.md").write_text(PAGE)
    (root / "examples" / "hostile.py").write_text(HOSTILE)
    (root / "examples" / "broken.py").write_text(BROKEN)
    return root


def _build(root: Path, dest: Path, strict: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_")}
    env["MLTRACK_DOCS__JOBS"] = "2"
    return build_site(dest, cwd=root, strict=strict, timeout_s=600, env=env)


@pytest.mark.slow
def test_broken_example_fails_the_strict_build(tmp_path: Path) -> None:
    root = _project(tmp_path)
    fence = PAGE.splitlines().index("file: examples/broken.py")  # 1-based line of the fence
    broken_line = BROKEN.splitlines().index('print(settings["question"])') + 1

    strict = _build(root, tmp_path / "strict-site", strict=True)
    log = strict.stdout + strict.stderr
    assert strict.returncode != 0, f"the strict build passed with a broken example:\n{log[-3000:]}"
    where = f"docs/index.md:{fence} -> examples/broken.py:{broken_line}: KeyError: 'question'"
    assert where in log, f"the failure does not name {where!r}:\n{log[-3000:]}"
    assert not (tmp_path / "strict-site" / "index.html").exists(), "a failed build wrote a site"

    # Without --strict (mkdocs serve / make docs) the page is built and shows the failure.
    lenient = _build(root, tmp_path / "site", strict=False)
    assert lenient.returncode == 0, (lenient.stdout + lenient.stderr)[-3000:]
    html = (tmp_path / "site" / "index.html").read_text()
    blocks, problems = livedocs_markup_problems(html)
    assert blocks == 2 and not problems, problems
    assert "livedocs-error" in html and f"examples/broken.py:{broken_line}" in html
    # The hostile output is shown as text; its tags did not become elements.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert re.search(r'<span class="[^"]*ansi-fg-red[^"]*">red and bold</span>', html), html[
        html.find("red and bold") - 200 : html.find("red and bold") + 50
    ]
    assert "\x1b" not in html
