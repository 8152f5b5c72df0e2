"""Fast tests of the engine's pure parts: directives, headers, ANSI, redaction, reference."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import markdown
import pytest

from mltrack.errors import LiveDocsError
from mltrack.livedocs.ansi import ansi_to_html, strip_ansi
from mltrack.livedocs.directives import find_directives, parse_line_spec
from mltrack.livedocs.model import EngineConfig, Item, ItemResult
from mltrack.livedocs.plan import build_plan, read_header
from mltrack.livedocs.redact import Scrubber, secret_values
from mltrack.livedocs.reference import config_page
from mltrack.livedocs.render import fill_fragments, markdown_output, render_directive

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
        ("file: a.py\nshow: all", "show must be code, output, both or markdown"),
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
    assert [str(p) for p in missing.problems] == [
        "docs/q.md:1: livedocs file 'examples/nope.py' does not exist; check the path"
    ]


def test_plan_keys_change_when_the_installed_mltrack_metadata_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Examples print the installed package's metadata (the extras table): a key on the
    lock alone kept a table cached from before ``make install`` rewrote it."""
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "a.py").write_text("print(1)\n")
    config = EngineConfig(root=tmp_path)
    pages = {"docs/p.md": "```livedocs\nfile: examples/a.py\n```\n"}
    installed = tmp_path / "site-packages" / "mltrack-0.1.0.dist-info"
    installed.mkdir(parents=True)
    metadata = "Metadata-Version: 2.4\nName: mltrack\nVersion: 0.1.0\n"
    (installed / "METADATA").write_text(metadata + 'Requires-Dist: torch; extra == "torch"\n')
    monkeypatch.syspath_prepend(str(installed.parent))  # found before the real install
    key = build_plan(config, pages).items["examples/a.py"].key
    assert build_plan(config, pages).items["examples/a.py"].key == key
    marker = "Requires-Dist: torch; sys_platform != 'darwin' and extra == 'torch'\n"
    (installed / "METADATA").write_text(metadata + marker)  # same version, new marker
    assert build_plan(config, pages).items["examples/a.py"].key != key


def test_plan_maps_each_block_to_its_item_and_its_own_problem(tmp_path: Path) -> None:
    """A block at x.md:1 does not pick up the problem of x.md:12 (they were prefixes)."""
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "a.py").write_text("print(1)\n")
    lines = ["```livedocs", "file: examples/a.py", "```", *[""] * 8]
    lines += ["```livedocs", "file: examples/nope.py", "```", ""]
    plan = build_plan(EngineConfig(root=tmp_path), {"docs/x.md": "\n".join(lines)})
    assert plan.problem_at("docs/x.md:1") is None
    problem = plan.problem_at("docs/x.md:12")
    assert problem is not None and problem.where == "docs/x.md:12"
    assert problem.message == "livedocs file 'examples/nope.py' does not exist; check the path"
    item = plan.item_for("docs/x.md:1")
    assert item is not None and item.id == "examples/a.py"
    assert plan.item_for("docs/x.md:12") is None and plan.item_for("docs/x.md:2") is None
    # A header mistake names the file's own line; the block shows it at its line.
    (tmp_path / "examples" / "a.py").write_text("# livedocs: retries=3\nprint(1)\n")
    plan = build_plan(EngineConfig(root=tmp_path), {"docs/x.md": "\n".join(lines[:3])})
    problem = plan.problem_at("docs/x.md:1")
    assert problem is not None
    assert problem.message.startswith("examples/a.py:1: unknown livedocs header key 'retries'")


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
    # What a Python process started by the example imports counts too (`ml server`...).
    (tmp_path / "examples" / "_child_only.py").write_text("VALUE = 1\n")
    (tmp_path / "examples" / "runs_child.py").write_text(
        "import subprocess, sys\n"
        "from pathlib import Path\n"
        "code = 'import _child_only; print(_child_only.VALUE)'\n"
        "child = subprocess.run([sys.executable, '-c', code], cwd=Path(__file__).parent,\n"
        "                       capture_output=True, text=True, check=True)\n"
        "print('child', child.stdout.strip())\n"
    )
    page = "".join(
        f"```livedocs\nfile: examples/{name}.py\n```\n\n"
        for name in ("uses_module", "reads_data", "plain", "runs_child")
    )
    engine = LiveDocsEngine(EngineConfig(root=tmp_path, jobs=2), progress=lambda *a: None)

    def run(text: str) -> tuple[list[str], dict[str, str], bool]:
        report = engine.execute(engine.plan({"docs/index.md": text}))
        outputs = {k: r.output.strip() for k, r in report.results.items()}
        return sorted(report.executed), outputs, report.server_started

    executed, outputs, _ = run(page)
    assert len(executed) == 4
    assert outputs["examples/uses_module.py"] == "value 1"
    assert outputs["examples/reads_data.py"] == "data 10"
    assert outputs["examples/runs_child.py"] == "child 1"
    items = engine.plan({"docs/index.md": page}).items
    result = engine.runner.cache.load(items["examples/uses_module.py"].key)
    assert result is not None and list(result.deps) == ["examples/_shared.py"]
    result = engine.runner.cache.load(items["examples/runs_child.py"].key)
    assert result is not None and list(result.deps) == ["examples/_child_only.py"]

    (tmp_path / "examples" / "_shared.py").write_text("VALUE = 2\n")
    (tmp_path / "data" / "values.txt").write_text("20\n")
    executed, outputs, _ = run(page)
    assert executed == ["examples/reads_data.py", "examples/uses_module.py"]
    assert outputs["examples/uses_module.py"] == "value 2"
    assert outputs["examples/reads_data.py"] == "data 20"

    executed, _, server_started = run("# An edited page\n\n" + page)
    assert executed == [] and server_started is False

    # The module only the child process imports changed: exactly that example runs again.
    (tmp_path / "examples" / "_child_only.py").write_text("VALUE = 2\n")
    executed, outputs, _ = run(page)
    assert executed == ["examples/runs_child.py"]
    assert outputs["examples/runs_child.py"] == "child 2"


def test_child_process_opens_map_compiled_modules_to_their_source(tmp_path: Path) -> None:
    from mltrack.livedocs.worker import _child_opens

    (tmp_path / "4242.txt").write_text(
        "/p/examples/__pycache__/_helper.cpython-311.pyc\n/p/data/values.txt\n"
    )
    (tmp_path / "4243.txt").write_text("/p/mltrack/__pycache__/serverapp.cpython-311.opt-1.pyc\n")
    assert _child_opens(tmp_path) == [
        "/p/examples/_helper.py",
        "/p/data/values.txt",
        "/p/mltrack/serverapp.py",
    ]


def test_executable_snippet_becomes_an_item_of_the_page(tmp_path: Path) -> None:
    page = "# P\n\n```python livedocs\nprint('hi')\n```\n\n```python\nnot_run()\n```\n"
    found = find_directives("docs/p.md", page)
    assert len(found) == 1 and found[0].snippet == "print('hi')\n" and found[0].line == 3
    plan = build_plan(EngineConfig(root=tmp_path), {"docs/p.md": page})
    item = plan.items["docs/p.md:3"]
    assert item.page_line == 3 and (tmp_path / str(item.path)).read_text() == "print('hi')\n"


TABS_PAGE = """# Registry

```livedocs
tabs:
  Python: examples/a.py          # a file
  CLI: ml models demo            # a command
  REST:
    file: examples/b.py
    show: output
    hl_lines: 2
allow_error: true
```

after
"""


def test_tabs_block_is_one_directive_per_tab_tiling_the_block() -> None:
    found = find_directives("docs/p.md", TABS_PAGE)
    assert [d.tab for d in found] == ["Python", "CLI", "REST"]
    assert [d.file or d.cli for d in found] == ["examples/a.py", "ml models demo", "examples/b.py"]
    # Together the spans cover the fences and every line between, each line once.
    assert [(d.line, d.end_line) for d in found] == [(3, 5), (6, 6), (7, 12)]
    assert found[2].show == "output" and found[2].options["hl_lines"] == "2"
    assert all(d.options["allow_error"] == "true" for d in found)  # block-level default
    assert found[0].show == "both"
    assert found[1].where == "docs/p.md:6"  # a bad tab is reported at its own line


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tabs:\nshow: code", r"docs/p.md:2: 'tabs:' lists no tab"),
        ("tabs:\n  A: a.py\n  A: b.py", "tab labels must be unique"),
        ("tabs:\n  A: a.py\nhl_lines: 3", r"docs/p.md:5: 'hl_lines' cannot apply to every tab"),
        ("tabs:\n  A:\n    show: code", r"docs/p.md:4: a livedocs block needs exactly one of"),
        ("tabs:\n  A:\n    colour: red", r"docs/p.md:5: unknown livedocs option 'colour'"),
        ("tabs: a.py", "'tabs:' takes one indented 'Label: file or command' line"),
    ],
)
def test_bad_tabs_blocks_name_page_and_line(body: str, message: str) -> None:
    with pytest.raises(LiveDocsError, match=message):
        find_directives("docs/p.md", f"text\n```livedocs\n{body}\n```\n")


def _result(item_id: str, output: str) -> ItemResult:
    return ItemResult(id=item_id, key="k", ok=True, output=output, returncode=0)


def test_tabs_render_as_one_tab_set_marked_as_engine_output(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "a.py").write_text("print('hello')\n")
    found = find_directives("docs/p.md", TABS_PAGE)
    python = Item(id="examples/a.py", kind="script", path="examples/a.py")
    cli = Item(id="cli:ml models demo", kind="cli", command="ml models demo")
    first = render_directive(tmp_path, found[0], python, _result(python.id, "hello\n"))
    second = render_directive(tmp_path, found[1], cli, _result(cli.id, "no models\n"))
    third = render_directive(tmp_path, found[2], None, None, "docs/p.md:7: no such file")
    page_md = first.markdown + second.markdown + third.markdown
    assert [line for line in page_md.split("\n") if line.startswith("===")] == [
        '=== "Python"',
        '=== "CLI"',
        '=== "REST"',
    ]
    assert '    ```python title="examples/a.py" linenums="1"' in first.markdown
    assert '=== "Code"' not in page_md  # no second row of tabs inside a language tab
    fragments = {**first.fragments, **second.fragments, **third.fragments}
    page = fill_fragments(
        "\n".join(f"<p>{t}</p>" for t in re.findall(r"LIVEDOCSFRAGMENT\w{16}", page_md)),
        fragments,
    )
    for item_id in ("examples/a.py", "cli:ml models demo", "examples/b.py"):
        assert f'<div class="livedocs" data-livedocs-item="{item_id}">' in page
    assert page.count("<div") == page.count("</div>")
    assert "hello" in page and "no models" in page and "no such file" in page


def test_markdown_output_goes_into_the_page_as_markdown(tmp_path: Path) -> None:
    directive = find_directives(
        "docs/p.md", "```livedocs\nfile: examples/r.py\nshow: markdown\n```\n"
    )[0]
    item = Item(id="examples/r.py", kind="script", path="examples/r.py")
    printed = "# Report\n\n\x1b[1m| a | b |\x1b[0m\n|---|---|\n| 1 | 2 |\n\n## Detail\n\n```\n# not a heading\n```\n"
    rendered = render_directive(tmp_path, directive, item, _result(item.id, printed))
    assert "**Report**" in rendered.markdown and "**Detail**" in rendered.markdown
    assert "\n# not a heading\n" in rendered.markdown  # fenced code is left alone
    assert "| a | b |\n|---|---|\n| 1 | 2 |" in rendered.markdown  # colours removed
    html = markdown.markdown(rendered.markdown, extensions=["tables", "fenced_code"])
    html = fill_fragments(html, rendered.fragments)
    assert "<table>" in html and "<td>1</td>" in html
    assert html.startswith('<div class="livedocs" data-livedocs-item="examples/r.py">')
    assert markdown_output("plain text\n") == "plain text"
    logged = (
        "| a |\n|---|\n| 1 |\n"
        "2026/11/25 10:43:47 INFO mlflow.tracing.export.async_export_queue: Flushing...\n"
        "WARNING:mlflow.models:signature missing\n"
        "ERROR: the report failed\n"
    )
    assert markdown_output(logged) == "| a |\n|---|\n| 1 |\nERROR: the report failed"


@pytest.mark.slow
def test_markdown_output_is_executed_and_redacted_like_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script printing a Markdown table with a secret in it: a table, the secret redacted."""
    from mltrack.livedocs.engine import LiveDocsEngine

    monkeypatch.setenv("REPORT_API_KEY", "sk-live-0123456789")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "table.py").write_text(
        "import os\n"
        "print('# Usage')\n"
        "print('| key | calls |\\n|---|---:|')\n"
        "print(f\"| {os.environ['REPORT_API_KEY']} | 3 |\")\n"
    )
    page = "# P\n\n```livedocs\nfile: examples/table.py\nshow: markdown\n```\n"
    engine = LiveDocsEngine(EngineConfig(root=tmp_path, jobs=1), progress=lambda *a: None)
    plan = engine.plan({"docs/p.md": page})
    report = engine.execute(plan)
    assert not report.failures
    rendered = engine.render_page("docs/p.md", page, plan, report)
    assert "sk-live-0123456789" not in rendered.markdown
    assert "**Usage**" in rendered.markdown
    html = fill_fragments(
        markdown.markdown(rendered.markdown, extensions=["tables"]), rendered.fragments
    )
    assert re.search(r"<td>\[redacted\]</td>\s*<td[^>]*>3</td>", html), html
    assert '<div class="livedocs" data-livedocs-item="examples/table.py">' in html


# -- runner split: experiment names, claims, run summaries, stack dumps ------------------


def test_experiments_are_named_after_their_items(tmp_path: Path) -> None:
    from mltrack.livedocs.directives import Directive
    from mltrack.livedocs.runner import experiment_names

    for rel in ("examples/quickstart.py", "examples/ci/train.py", "notebooks/report.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    config = EngineConfig(root=tmp_path)
    items = [
        Item(id="examples/quickstart.py", kind="script", path="examples/quickstart.py"),
        Item(id="examples/ci/train.py", kind="script", path="examples/ci/train.py"),
        Item(id="notebooks/quickstart.ipynb", kind="notebook", path="notebooks/quickstart.ipynb"),
        Item(id="notebooks/report.ipynb", kind="notebook", path="notebooks/report.ipynb"),
        Item(id="cli:ml runs --limit 3", kind="cli", command="ml runs --limit 3"),
        Item(
            id="docs/guides/tracking.md:12",
            kind="script",
            path=".cache/livedocs/snippets/abc.py",
            page_line=12,
        ),
        Item(id="docs/cli/index.md:5", kind="script", path=".cache/x.py", page_line=5),
        # Not unique by their own names: told apart in the order of their ids.
        Item(id="examples/ci-train.py", kind="script", path="examples/ci-train.py"),
    ]
    names = experiment_names(config, items)
    assert names == {
        "examples/quickstart.py": "quickstart",
        # ("examples/ci-train.py" sorts first: "-" before "/")
        "examples/ci-train.py": "ci-train",
        "examples/ci/train.py": "ci-train-2",
        # An example of the same name exists: the notebook's experiment says what it is.
        "notebooks/quickstart.ipynb": "quickstart-notebook",
        "notebooks/report.ipynb": "report",
        "cli:ml runs --limit 3": "ml-runs-limit-3",
        "docs/guides/tracking.md:12": "tracking-line-12",
        "docs/cli/index.md:5": "cli-line-5",
    }
    # One item embedded by two pages is one item: one name, whatever its directives.
    item = items[0]
    item.refs = [Directive("docs/a.md", 1, 3, ""), Directive("docs/b.md", 9, 11, "")]
    assert experiment_names(config, [item]) == {"examples/quickstart.py": "quickstart"}
    # The name depends on the item, not on which other items a build executes.
    assert experiment_names(config, items[2:3]) == {
        "notebooks/quickstart.ipynb": "quickstart-notebook"
    }


def test_experiment_claims_take_the_next_free_suffix_on_a_shared_server(
    mlflow_server: Any,
) -> None:
    """Runner (commands) and worker (scripts, notebooks) claim names the same way, so an
    item never logs into an experiment another build's item already used."""
    from mlflow import MlflowClient

    from mltrack.livedocs import worker
    from mltrack.livedocs.collect import claim_experiment

    base = f"claimed-{uuid.uuid4().hex[:8]}"
    assert claim_experiment(mlflow_server.url, base) == base
    assert worker._claim_experiment(mlflow_server.url, base) == f"{base}-2"
    assert claim_experiment(mlflow_server.url, base) == f"{base}-3"
    client = MlflowClient(mlflow_server.url)
    for name in (base, f"{base}-2", f"{base}-3"):
        assert client.get_experiment_by_name(name) is not None


def test_run_summaries_come_from_mlflows_client_scrubbed_and_oldest_first(
    mlflow_server: Any,
) -> None:
    from mlflow import MlflowClient

    from mltrack.livedocs.collect import run_summaries
    from mltrack.livedocs.redact import redactor_for

    client = MlflowClient(mlflow_server.url)
    name = f"summaries-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name)
    secret = "sk-" + uuid.uuid4().hex
    for index, run_name in enumerate(["first", "second", "third"]):
        run = client.create_run(
            experiment_id, start_time=1_700_000_000_000 + index, run_name=run_name
        )
        client.log_param(run.info.run_id, "C", str(0.1 * (index + 1)))
        client.log_param(run.info.run_id, "api_key", secret)
        client.log_metric(run.info.run_id, "accuracy", 0.5, step=0)
        client.log_metric(run.info.run_id, "accuracy", 0.9 + index / 100, step=1)
        if index < 2:
            client.set_terminated(run.info.run_id)
    # The secret is redacted because a variable with KEY in its name holds it.
    scrub = Scrubber(redactor_for(("KEY",), environ={"MY_API_KEY": secret}))
    runs = run_summaries(mlflow_server.url, name, scrub)
    assert [r.name for r in runs] == ["first", "second", "third"]
    assert [r.status for r in runs] == ["FINISHED", "FINISHED", "RUNNING"]
    assert runs[0].params == {"C": "0.1", "api_key": "[redacted]"}
    assert runs[2].metrics == {"accuracy": 0.92}  # the latest value of each metric
    # No experiment (the item created no run), or no server: no runs, no error.
    assert run_summaries(mlflow_server.url, f"missing-{uuid.uuid4().hex}", scrub) == []
    assert run_summaries("http://127.0.0.1:9", name, scrub) == []


def test_stack_dump_of_a_timed_out_worker_keeps_only_the_examples_frames() -> None:
    from mltrack.livedocs.processes import condense_dump, line_in_dump

    dump = (
        "Thread 0x00007f01 (most recent call first):\n"
        '  File "/repo/mltrack/_process.py", line 210 in watch\n'
        "\n"
        "Current thread 0x00007f00 (most recent call first):\n"
        '  File "/repo/examples/slow.py", line 7 in wait_for_it\n'
        '  File "/repo/examples/slow.py", line 12 in <module>\n'
        '  File "<frozen runpy>", line 88 in _run_code\n'
        '  File "/repo/mltrack/livedocs/worker.py", line 300 in _run_script\n'
    )
    assert condense_dump(dump).splitlines() == [
        "Still running when killed (most recent call first):",
        "Thread 0x00007f00:",
        '  File "/repo/examples/slow.py", line 7 in wait_for_it',
        '  File "/repo/examples/slow.py", line 12 in <module>',
    ]
    assert line_in_dump(dump, "examples/slow.py") == 7
    assert line_in_dump(dump, "examples/other.py") is None


@pytest.mark.slow
def test_executed_example_runs_in_its_named_experiment_without_mlflow_info_lines(
    tmp_path: Path,
) -> None:
    """Through the engine: the example's experiment is named after it, MLflow's INFO
    notices stay out of the captured output, its warnings stay in."""
    from mltrack.livedocs.engine import LiveDocsEngine

    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "named.py").write_text(
        "import logging, os\n"
        "import mlflow\n"
        "print('experiment', os.environ['MLFLOW_EXPERIMENT_NAME'])\n"
        "with mlflow.start_run(run_name='default'):\n"
        "    mlflow.log_param('where', 'default')\n"
        "mlflow.set_experiment('brand-new')  # MLflow logs an INFO notice creating it\n"
        "logging.getLogger('mlflow.example').warning('a warning the reader must see')\n"
    )
    engine = LiveDocsEngine(EngineConfig(root=tmp_path, jobs=1), progress=lambda *a: None)
    report = engine.execute(
        engine.plan({"docs/index.md": "```livedocs\nfile: examples/named.py\n```\n"})
    )
    result = report.results["examples/named.py"]
    assert result.ok, result.error
    assert "experiment named" in result.output
    assert "a warning the reader must see" in result.output
    assert " INFO " not in result.output and "does not exist" not in result.output
    assert [(r.name, r.params) for r in result.runs] == [("default", {"where": "default"})]
    assert report.experiments["examples/named.py"] == "named"


def test_project_files_resolve_links_to_where_the_file_lives(tmp_path: Path) -> None:
    # Dependencies are recorded by real path: a link into the project counts, a link out
    # of it does not, whether the link is the file itself or a folder on the way.
    from mltrack.livedocs import worker_tracing

    root, outside = tmp_path / "project", tmp_path / "elsewhere"
    (root / "pkg").mkdir(parents=True)
    outside.mkdir()
    (root / "pkg" / "helpers.py").write_text("x = 1\n")
    (outside / "vendored.py").write_text("y = 2\n")
    (root / "pkg" / "linked_in.py").symlink_to(outside / "vendored.py")  # leaves the project
    (outside / "alias.py").symlink_to(root / "pkg" / "helpers.py")  # points into it
    (outside / "pkgdir").symlink_to(root / "pkg", target_is_directory=True)
    paths = [
        str(root / "pkg" / "helpers.py"),
        str(root / "pkg" / "linked_in.py"),
        str(outside / "alias.py"),
        str(outside / "pkgdir" / "helpers.py"),
        str(root / "pkg" / ".." / "pkg" / "helpers.py"),
        str(root / "pkg" / "missing.py"),
        str(root / "main.py"),
    ]
    (root / "main.py").write_text("")
    found = worker_tracing.project_files(str(root), paths, exclude=str(root / "main.py"))
    assert found == ["pkg/helpers.py"]
    # The answers are the same when the folder was resolved before (the pool warms them).
    assert worker_tracing.project_files(str(root), reversed(paths)) == [
        "main.py",
        "pkg/helpers.py",
    ]


def test_figures_are_the_images_an_example_wrote_not_a_stores_artifacts(tmp_path: Path) -> None:
    from mltrack.livedocs.worker import _save_figures

    old = tmp_path / "before.png"
    old.write_bytes(b"png")
    for name in (
        "plot.png",
        "reports/val_f1.svg",
        ".mltrack/artifacts/0/abc/artifacts/training_confusion_matrix.png",
        "mlruns/1/abc/artifacts/roc.png",
        "mlartifacts/1/abc/artifacts/pr.png",
        ".ipynb_checkpoints/plot.png",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"png")
    figures = _save_figures(tmp_path / "out", tmp_path, before={str(old)})
    assert [f["name"] for f in figures] == ["plot.png", "reports/val_f1.svg"]


def test_a_replacement_inside_a_table_keeps_its_right_border_in_place() -> None:
    import io

    from rich.console import Console
    from rich.table import Table

    root = "/work/build/checkout/"
    url = "http://127.0.0.1:28470"
    table = Table("check", "detail")
    table.add_row("python", f"3.11.7 ({root}.venv/bin/python)")
    table.add_row("tracking", f"{url} answers /health")
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(table)
    drawn = out.getvalue() + f"a path outside the table: {root}x\n"
    widths = {len(line) for line in drawn.splitlines()[:-1]}
    assert len(widths) == 1, widths

    lines = Scrubber([], {root: "", url: "http://localhost:5000"})(drawn).splitlines()
    assert {len(line) for line in lines[:-1]} == widths, "every row ends at the same column"
    assert any(line.startswith("│ python   │ 3.11.7 (.venv/bin/python) ") for line in lines)
    assert any("│ http://localhost:5000 answers /health " in line for line in lines)
    assert lines[-1] == "a path outside the table: x"
