"""Fast tests of the engine's pure parts: directives, headers, ANSI, redaction, reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from mltrack.errors import LiveDocsError
from mltrack.livedocs.ansi import ansi_to_html, strip_ansi
from mltrack.livedocs.directives import find_directives, parse_line_spec
from mltrack.livedocs.model import EngineConfig
from mltrack.livedocs.plan import build_plan, read_header
from mltrack.livedocs.redact import Scrubber, secret_values
from mltrack.livedocs.reference import config_page
from mltrack.livedocs.render import fill_fragments

PAGE = """# Title

```livedocs
file: examples/a.py
show: output   # only the output
hl_lines: 3-4 7
title: "A title: with colon"
```

````markdown
```livedocs
file: examples/not_a_directive.py
```
````

!!! note
    ```livedocs
    cli: ml --help
    ```
"""


def test_directives_found_with_options_lines_and_indent() -> None:
    found = find_directives("docs/p.md", PAGE)
    assert [d.line for d in found] == [3, 17]
    first, second = found
    assert first.file == "examples/a.py"
    assert first.show == "output"
    assert first.options["title"] == "A title: with colon"
    assert parse_line_spec(first.options["hl_lines"]) == [3, 4, 7]
    assert second.cli == "ml --help" and second.indent == "    "
    assert second.where == "docs/p.md:17"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("file: a.py\ncolour: red", "docs/p.md:4: unknown livedocs option 'colour'"),
        ("show: code", "exactly one of 'file:' or 'cli:'"),
        ("file: a.py\nshow: all", "show must be code, output or both"),
        ("file: a.py\nlines: five", "lines must be numbers or ranges"),
    ],
)
def test_bad_directives_name_page_and_line(body: str, message: str) -> None:
    with pytest.raises(LiveDocsError, match=message.replace("(", r"\(")):
        find_directives("docs/p.md", f"text\n```livedocs\n{body}\n```\n")


def test_header_options_and_errors() -> None:
    source = "# livedocs: timeout=5 inputs=data/a.csv,data/b.csv\nprint(1)\n"
    assert read_header(Path("x.py"), source) == {"timeout": "5", "inputs": "data/a.csv,data/b.csv"}
    with pytest.raises(LiveDocsError, match=r"x.py:1: unknown livedocs header key 'retries'"):
        read_header(Path("x.py"), "# livedocs: retries=3\n")


def test_plan_keys_change_with_content_and_declared_inputs(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "data.csv").write_text("a,b\n")
    script = tmp_path / "examples" / "a.py"
    script.write_text("# livedocs: inputs=data.csv\nprint(1)\n")
    (tmp_path / "examples" / "orphan.py").write_text("print(2)\n")
    (tmp_path / "examples" / "_helper.py").write_text("X = 1\n")
    config = EngineConfig(root=tmp_path)
    pages = {"docs/p.md": "```livedocs\nfile: examples/a.py\n```\n"}
    first = build_plan(config, pages)
    assert list(first.items) == ["examples/a.py"]
    assert first.unreferenced == ["examples/orphan.py"]  # _helper.py is not an example
    key = first.items["examples/a.py"].key
    assert build_plan(config, pages).items["examples/a.py"].key == key
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    assert build_plan(config, pages).items["examples/a.py"].key != key
    missing = build_plan(config, {"docs/q.md": "```livedocs\nfile: examples/nope.py\n```\n"})
    assert missing.problems == [
        "docs/q.md:1: livedocs file 'examples/nope.py' does not exist; check the path"
    ]


def test_ansi_to_html_colours_and_escaping() -> None:
    text = "\x1b[1;31merror\x1b[0m <b> \x1b[38;5;46mx\x1b[0m\x1b[2K\ndone"
    out = ansi_to_html("50%\r100%\n" + text)
    assert out.startswith("100%\n")
    assert '<span class="ansi-bold ansi-fg-red">error</span>' in out
    assert "&lt;b&gt;" in out
    assert 'style="color:#00ff00"' in out
    assert strip_ansi("\x1b[32mok\x1b[0m") == "ok"


def test_redaction_uses_secret_like_variable_names() -> None:
    env = {"MY_API_KEY": "sk-abcdef", "DB_PASSWORD": "hunter22", "HOME": "/root", "X_TOKEN": "1"}
    secrets = secret_values(["TOKEN", "KEY", "SECRET", "PASSWORD"], env)
    assert set(secrets) == {"sk-abcdef", "hunter22"}  # short values are left alone
    scrub = Scrubber(secrets, {"http://127.0.0.1:5123": "http://localhost:5000"})
    assert (
        scrub("key=sk-abcdef at http://127.0.0.1:5123") == "key=[redacted] at http://localhost:5000"
    )


def test_config_reference_lists_every_key_with_env_var() -> None:
    page = config_page()
    assert "| `docs.timeout_s` | `float` | `120.0` | `MLTRACK_DOCS__TIMEOUT_S` |" in page
    assert "`MLTRACK_TRACKING_URI`" in page
    assert "project_root" not in page  # read-only fields are not settings


def test_fill_fragments_swaps_placeholder_paragraphs() -> None:
    html = "<p>before</p>\n<p>LIVEDOCSFRAGMENT0123456789abcdef</p>"
    assert fill_fragments(html, {"LIVEDOCSFRAGMENT0123456789abcdef": "<div>x</div>"}) == (
        "<p>before</p>\n<div>x</div>"
    )


@pytest.mark.slow
def test_dependency_aware_cache_reruns_exactly_the_affected_items(tmp_path: Path) -> None:
    """Local modules an example imports and repo files it reads are part of its cache key."""
    from mltrack.livedocs.engine import LiveDocsEngine

    (tmp_path / "examples").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "examples" / "_shared.py").write_text("VALUE = 1\n")
    (tmp_path / "data" / "values.txt").write_text("10\n")
    (tmp_path / "examples" / "uses_module.py").write_text(
        "import _shared\nprint('value', _shared.VALUE)\n"
    )
    (tmp_path / "examples" / "reads_data.py").write_text(
        "from pathlib import Path\n"
        "root = Path(__file__).resolve().parent.parent\n"
        "print('data', (root / 'data' / 'values.txt').read_text().strip())\n"
    )
    (tmp_path / "examples" / "plain.py").write_text("print('plain')\n")
    page = "".join(
        f"```livedocs\nfile: examples/{name}.py\n```\n\n"
        for name in ("uses_module", "reads_data", "plain")
    )
    engine = LiveDocsEngine(EngineConfig(root=tmp_path, jobs=2), progress=lambda *a: None)

    def run(text: str) -> tuple[list[str], dict[str, str], bool]:
        report = engine.execute(engine.plan({"docs/index.md": text}))
        outputs = {k: r.output.strip() for k, r in report.results.items()}
        return sorted(report.executed), outputs, report.server_started

    executed, outputs, _ = run(page)
    assert len(executed) == 3
    assert outputs["examples/uses_module.py"] == "value 1"
    assert outputs["examples/reads_data.py"] == "data 10"
    result = engine.runner.cache.load(
        engine.plan({"docs/index.md": page}).items["examples/uses_module.py"].key
    )
    assert result is not None and list(result.deps) == ["examples/_shared.py"]

    (tmp_path / "examples" / "_shared.py").write_text("VALUE = 2\n")
    (tmp_path / "data" / "values.txt").write_text("20\n")
    executed, outputs, _ = run(page)
    assert executed == ["examples/reads_data.py", "examples/uses_module.py"]
    assert outputs["examples/uses_module.py"] == "value 2"
    assert outputs["examples/reads_data.py"] == "data 20"

    executed, _, server_started = run("# An edited page\n\n" + page)
    assert executed == [] and server_started is False


def test_executable_snippet_becomes_an_item_of_the_page(tmp_path: Path) -> None:
    page = "# P\n\n```python livedocs\nprint('hi')\n```\n\n```python\nnot_run()\n```\n"
    found = find_directives("docs/p.md", page)
    assert len(found) == 1 and found[0].snippet == "print('hi')\n" and found[0].line == 3
    plan = build_plan(EngineConfig(root=tmp_path), {"docs/p.md": page})
    item = plan.items["docs/p.md:3"]
    assert item.page_line == 3 and (tmp_path / str(item.path)).read_text() == "print('hi')\n"
