"""The generated reference: API pages grouped for readers, a real example on every command
page, flags shown as flags, one spelling per ``--format`` value."""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import re
from pathlib import Path

import markdown
import pytest
import typer
import typer.main

from mltrack.cli import app
from mltrack.cli._app import FORMAT_ALIASES, choose_format
from mltrack.errors import MltrackError
from mltrack.livedocs.directives import find_directives
from mltrack.livedocs.reference import (
    API_GROUPS,
    INTERNAL_MODULES,
    api_pages,
    cli_pages,
    internal_reason,
    public_modules,
)
from mltrack.livedocs.render import checks_start
from tests._helpers import ml_in_process

ROOT = Path(__file__).resolve().parents[2]
READER_ORDER = [
    "Tracking",
    "Logging",
    "LLM",
    "Registry",
    "Cards & insights",
    "Serving & deploy",
    "Configuration",
    "Errors",
]


def _documented(pages: dict[str, str]) -> list[str]:
    return [m for text in pages.values() for m in re.findall(r"^::: (\S+)$", text, re.M)]


def test_api_groups_in_reading_order_docs_engine_last() -> None:
    pages = api_pages()
    titles = [g.title for g in API_GROUPS]
    assert titles[: len(READER_ORDER)] == READER_ORDER, titles
    assert API_GROUPS[-1].modules[0] == "mltrack.livedocs", "the docs engine has its own page"
    assert not any(m.startswith("mltrack.livedocs") for g in API_GROUPS[:-1] for m in g.modules)
    # The navigation keeps the generator's order: index, shortcuts, then the groups.
    expected = ["index", "mltrack", *(g.slug for g in API_GROUPS)]
    assert [Path(uri).stem for uri in pages] == expected
    index = pages["reference/api/index.md"]
    positions = [index.index(f"[{title}](") for title in titles]
    assert positions == sorted(positions), "the index lists the groups in reading order"


def test_no_private_or_internal_module_on_the_api_pages() -> None:
    documented = _documented(api_pages())
    assert documented, "the pages hand modules to mkdocstrings"
    for module in documented:
        assert not any(part.startswith("_") for part in module.split(".")), module
        assert module not in INTERNAL_MODULES, module
        assert internal_reason(module) is None, module
        importlib.import_module(module)  # mkdocstrings would fail on a missing module
    for hidden in ("mltrack.run_context", "mltrack.notices", "mltrack.mlflow_errors"):
        assert hidden not in documented
    assert "mltrack._process" not in public_modules()


def test_every_module_is_documented_or_named_internal() -> None:
    documented = set(_documented(api_pages()))
    unplaced = [
        m
        for m in public_modules()
        if m != "mltrack" and m not in documented and internal_reason(m) is None
    ]
    assert not unplaced, f"put {unplaced} in an API_GROUPS page or in INTERNAL_MODULES"


def test_every_shortcut_is_documented_and_runs_in_its_groups_example() -> None:
    import mltrack

    shortcuts = api_pages()["reference/api/mltrack.md"]
    for name, module in mltrack._EXPORTS.items():
        (group,) = [g for g in API_GROUPS if module in g.modules]
        assert f"[{group.title}]({group.slug}.md#{module}.{name})" in shortcuts, name
        source = (ROOT / group.example).read_text()
        assert re.search(rf"\b{name}\b", source), f"{group.example} never uses {name}"


@pytest.mark.parametrize("group", API_GROUPS, ids=lambda g: g.slug)
def test_each_group_page_shows_an_executed_example(group) -> None:
    page = api_pages()[f"reference/api/{group.slug}.md"]
    (directive,) = find_directives(f"docs/reference/api/{group.slug}.md", page)
    assert directive.options == {"file": group.example}
    source = (ROOT / group.example).read_text()
    assert checks_start(source.splitlines()) is not None, f"{group.example} asserts what it shows"


@pytest.mark.parametrize("group", API_GROUPS, ids=lambda g: g.slug)
def test_every_public_function_runs_in_its_groups_example(group) -> None:
    """Each function in a module's ``__all__`` is used in the example on its group's page."""
    tree = ast.parse((ROOT / group.example).read_text())
    # Names the code uses: an import alone is not a use.
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    public = [
        f"{module}.{name}"
        for module in group.modules
        for name in getattr(importlib.import_module(module), "__all__", [])
        if inspect.isfunction(getattr(importlib.import_module(module), name))
    ]
    assert public or group.slug == "errors", f"{group.slug}: no public function found"
    unused = [name for name in public if name.rsplit(".", 1)[1] not in used]
    assert not unused, (
        f"{group.example} never uses {unused}: show them there, or take them out of __all__"
    )


def _blocks(pages: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {uri: [d.options for d in find_directives(uri, text)] for uri, text in pages.items()}


def test_every_command_page_has_a_real_use_besides_help() -> None:
    pages = cli_pages(app)
    commands = [uri for uri in pages if not uri.endswith("/index.md")]
    assert len(commands) >= 20, commands
    for uri, blocks in _blocks(pages).items():
        if uri.endswith("/index.md"):
            continue
        helps = [b["cli"] for b in blocks if b.get("cli", "").endswith(" --help")]
        assert len(helps) == 1 and helps[0].startswith("ml "), (uri, blocks)
        uses = [b for b in blocks if not b.get("cli", "").endswith("--help")]
        assert uses, f"{uri}: only --help"
        for block in uses:
            if "file" in block:
                source = (ROOT / block["file"]).read_text()
                assert checks_start(source.splitlines()) is not None, block["file"]


def test_options_tables_and_help_show_flags_as_flags() -> None:
    page = cli_pages(app)["reference/cli/ship.md"]
    assert "| `--local` | flag |" in page and "| `--dry-run` | flag |" in page
    root = typer.main.get_command(app)
    paths = [[]] + [[name] for name in root.commands]
    paths += [[g, s] for g in root.commands for s in getattr(root.commands[g], "commands", {})]
    for path in paths:
        shown = ml_in_process(*path, "--help", env={"COLUMNS": "120"})
        assert shown.returncode == 0, (path, shown.stderr)
        assert "<bool>" not in shown.stdout, f"ml {' '.join(path)} --help:\n{shown.stdout}"
        assert "--help" in shown.stdout
    ship = ml_in_process("ship", "--help", env={"COLUMNS": "120"}).stdout
    assert re.search(r"--port\s+<int>", ship), "options that take a value keep their type"
    assert re.search(r"--local\s+Serve", ship), ship


def test_format_has_one_spelling_and_md_is_an_alias() -> None:
    assert FORMAT_ALIASES == {"md": "markdown"}
    assert choose_format("md", ("table", "markdown", "json")) == "markdown"
    assert choose_format("Markdown", ("markdown", "html")) == "markdown"
    with pytest.raises(MltrackError, match=r"unknown --format 'pdf': use one of markdown, html"):
        choose_format("pdf", ("markdown", "html"))
    for command in (["card", "x"], ["compare", "x"], ["llm", "report", "x"]):
        help_text = ml_in_process(*command[:-1], "--help", env={"COLUMNS": "200"}).stdout
        assert "markdown (also: md)" in help_text, help_text
        assert "md or html" not in help_text
        bad = ml_in_process(*command, "--format", "pdf")
        assert bad.returncode == 2 and "unknown --format 'pdf'" in bad.stderr, bad.stderr


def test_format_alias_gives_the_canonical_output(experiment: str) -> None:
    import mltrack

    for depth in (1, 2):
        with mltrack.run(f"d{depth}", params={"depth": depth}, autolog=False) as run:
            run.log_metrics({"accuracy": 0.8 + depth / 10})
    mltrack.flush()
    outputs = {}
    for spelling in ("markdown", "md", "MD"):
        done = ml_in_process("compare", experiment, "--metric", "accuracy", "--format", spelling)
        assert done.returncode == 0, done.stderr
        outputs[spelling] = done.stdout
    assert outputs["md"] == outputs["markdown"] == outputs["MD"]
    assert "| " in outputs["md"] and "d2" in outputs["md"], outputs["md"]
    report = ml_in_process("llm", "report", experiment, "-f", "md")
    assert report.returncode == 0, report.stderr
    assert report.stdout == ml_in_process("llm", "report", experiment, "-f", "markdown").stdout


def test_cheatsheet_exit_statuses_are_the_examples() -> None:
    cheatsheet = (ROOT / "docs/cli-cheatsheet.md").read_text()
    example = (ROOT / "examples/cli_exit_codes.py").read_text()
    table = dict(re.findall(r"^\| (\d+(?:\+N)?) \| (.+) \|$", cheatsheet, re.M))
    assert set(table) == {"0", "1", "2", "130", "128+N"}, table
    assert "file: examples/cli_exit_codes.py" in cheatsheet
    checked = re.search(r"assert codes == \{(.*?)\}", example, re.S)
    assert checked, "the example asserts every status"
    statuses = {int(v) for v in re.findall(r":\s*(\d+)", checked.group(1))}
    assert statuses == {0, 1, 2, 130, 143}, statuses
    assert "--debug" in table["2"]


def test_generated_pages_plan_without_problems() -> None:
    """``ml docs`` and ``pytest --livedocs`` see the generated pages, and every block plans."""
    from mltrack.livedocs import LiveDocsEngine, config_from_settings

    engine = LiveDocsEngine(config_from_settings(ROOT))
    pages = engine.read_pages()
    assert "docs/reference/cli/ui.md" in pages and "docs/reference/api/tracking.md" in pages
    plan = engine.plan(pages)
    generated = ("docs/reference/api/", "docs/reference/cli/")
    assert not [p for p in plan.problems if p.where.startswith(generated)], plan.problems
    examples = {g.example for g in API_GROUPS} | {
        b["file"] for blocks in _blocks(cli_pages(app)).values() for b in blocks if "file" in b
    }
    assert examples <= set(plan.items), sorted(examples - set(plan.items))
    assert not examples & set(plan.unreferenced)


def _command_paths() -> list[list[str]]:
    """Every command of `ml` as its words after `ml` (the root is [])."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    return paths


def _table_rows(page: str) -> list[list[str]]:
    """The rows of the page's tables as rendered (Python-Markdown, as in the site): cell HTML."""
    rendered = markdown.markdown(page, extensions=["tables"])
    return [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        for row in re.findall(r"<tr>(.*?)</tr>", rendered, re.S)
    ]


class _By(enum.Enum):
    model = "model"
    provider = "provider"


_tiny = typer.Typer(rich_markup_mode="rich")


@_tiny.callback()
def _tiny_root() -> None:
    """A tiny CLI: cells with pipes, angle brackets and code spans."""


@_tiny.command("go")
def _tiny_go(
    by: _By = typer.Option(_By.model, "--by", help="Group by model|provider."),
    out: Path = typer.Option(None, "--output", help="Into ship/<model>-<target> (R&D)."),
    sep: str = typer.Option("a|b", "--sep", help="Split on `a|b` or `<x>`."),
) -> None:
    """Go <somewhere> & back."""


def test_table_cells_escape_pipes_and_html_but_keep_code_spans() -> None:
    page = cli_pages(_tiny, prog="tiny")["reference/cli/go.md"]
    assert "| `--by` | model\\|provider | `model` | Group by model\\|provider. |" in page, page
    assert "| Into ship/&lt;model&gt;-&lt;target&gt; (R&amp;D). |" in page, page
    assert "| `--sep` | str | `a|b` | Split on `a|b` or `<x>`. |" in page, page
    assert "Go &lt;somewhere&gt; &amp; back." in page, "the help above the tables too"
    rows = {row[0]: row for row in _table_rows(page)[1:]}
    assert all(len(row) == 4 for row in rows.values()), rows
    assert rows["<code>--by</code>"][1:3] == ["model|provider", "<code>model</code>"]
    assert rows["<code>--output</code>"][3] == "Into ship/&lt;model&gt;-&lt;target&gt; (R&amp;D)."
    assert rows["<code>--sep</code>"][2:] == [
        "<code>a|b</code>",
        "Split on <code>a|b</code> or <code>&lt;x&gt;</code>.",
    ]


def test_every_cli_table_row_has_its_columns() -> None:
    pages = cli_pages(app)
    for uri, page in pages.items():
        widths = {len(row) for row in _table_rows(page)}
        assert len(widths) <= 1, f"{uri}: a row has another number of cells: {widths}"
    by = [r for r in _table_rows(pages["reference/cli/llm-report.md"]) if "--by" in r[0]]
    assert by == [
        [
            "<code>--by</code>",
            "model|provider|day",
            "<code>model</code>",
            "Group rows by model, provider or day (UTC).",
        ]
    ], by
    (output,) = [r for r in _table_rows(pages["reference/cli/ship.md"]) if "--output" in r[0]]
    assert output[3] == "Output directory (default ship/&lt;model&gt;-&lt;target&gt;).", output


def test_help_has_no_rst_backticks_and_no_cut_words() -> None:
    """Rich prints ``x`` literally: help is plain text or `x`, whole at the docs' width."""
    root = typer.main.get_command(app)
    for path in _command_paths():
        command = root
        for word in path:
            command = command.commands[word]
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        assert not [t for t in texts if "``" in t], f"ml {' '.join(path)}: {texts}"
        # The width the docs engine gives `cli:` captures (mltrack.livedocs.runner).
        shown = ml_in_process(*path, "--help", env={"COLUMNS": "100"})
        assert shown.returncode == 0, (path, shown.stderr)
        assert "``" not in shown.stdout, shown.stdout
        written = sum(text.count("…") for text in texts)  # `runs:/…` in `ml card`'s help
        assert shown.stdout.count("…") == written, f"a word cut short:\n{shown.stdout}"
    for uri, page in cli_pages(app).items():
        prose = re.sub(r"^```.*?^```", "", page, flags=re.M | re.S)
        assert "``" not in prose, uri


def test_option_names_are_whole_in_an_80_column_terminal() -> None:
    """A name cut to ``--default-permissi…`` cannot be typed: at 80 columns every name of
    every option shows whole, a flag's negative form on the line under it."""
    import click

    root = typer.main.get_command(app)
    for path in _command_paths():
        command = root
        for word in path:
            command = command.commands[word]
        shown = ml_in_process(*path, "--help", env={"COLUMNS": "80"}).stdout
        assert max(len(line) for line in shown.splitlines()) <= 80, shown
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for name in [*param.opts, *param.secondary_opts]:
                whole = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
                assert re.search(whole, shown), f"ml {' '.join(path)}: {name} cut:\n{shown}"
    lines = ml_in_process("server", "--help", env={"COLUMNS": "80"}).stdout.splitlines()
    (flag,) = [i for i, line in enumerate(lines) if "--serve-artifacts" in line]
    assert "--no-serve-artifacts" in lines[flag + 1], "\n".join(lines[flag - 1 : flag + 3])


def _description(help_text: str) -> list[list[str]]:
    """The paragraphs between ``Usage:`` and the first panel, as lists of lines."""
    body = help_text.split("Usage:", 1)[1].split("╭", 1)[0].splitlines()[1:]
    paragraphs: list[list[str]] = [[]]
    for line in body:
        if line.strip():
            paragraphs[-1].append(line.rstrip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def test_help_paragraphs_fill_the_terminal_and_examples_keep_their_indent() -> None:
    """Typer kept a docstring's line breaks: 88-column lines came out ragged at 80 (a word
    alone on every other line) and short at 120. Prose fills the width now."""
    for path in _command_paths():
        for columns in (80, 120):
            shown = ml_in_process(*path, "--help", env={"COLUMNS": str(columns)}).stdout
            for paragraph in _description(shown):
                if any(line.startswith("  ") for line in paragraph):
                    continue  # laid out by hand (examples): checked below
                short = [line for line in paragraph[:-1] if len(line) < columns - 25]
                assert not short, f"ml {' '.join(path)} at {columns}: ragged\n{shown}"
    server = ml_in_process("server", "--help", env={"COLUMNS": "120"}).stdout
    assert max(len(line) for p in _description(server) for line in p) > 95, server
    docs_run = ml_in_process("docs", "run", "--help", env={"COLUMNS": "80"}).stdout
    lines = [line.rstrip() for line in docs_run.splitlines()]
    examples = lines.index(" Examples:")
    assert lines[examples + 1] == "     ml docs run", docs_run


def _words(help_text: str) -> str:
    """``--help`` output as one line of words: no box, no wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", help_text).split())


def test_server_help_says_it_starts_the_server_without_a_subcommand() -> None:
    shown = ml_in_process("server", "--help", env={"COLUMNS": "100"}).stdout
    assert "server [OPTIONS] [COMMAND [ARGS]...]" in shown, shown  # the COMMAND is optional
    assert "Without a subcommand, `ml server` starts the server" in _words(shown), shown
    assert "postgresql://USER:PASSWORD@HOST:5432/" in shown, "the URI is whole, not cut"
    page = cli_pages(app)["reference/cli/server.md"]
    assert "ml server [OPTIONS] [COMMAND [ARGS]...]" in page
    assert "Without a subcommand, `ml server` starts the server" in " ".join(page.split())
    for sub in ("user-add", "grant", "migrate"):
        usage = cli_pages(app)[f"reference/cli/server-{sub}.md"]
        assert f"ml server {sub} [OPTIONS]" in usage, usage


def test_snapshot_help_says_what_it_does_without_update() -> None:
    shown = _words(ml_in_process("docs", "snapshot", "--help", env={"COLUMNS": "100"}).stdout)
    assert "only show what drifted" not in shown
    assert "exit with status 1 on a drift, a failed item or an unreferenced example" in shown


def test_uses_name_the_invocation_the_output_comes_from() -> None:
    """An example that prints no `$ ml ...` line has a caption that names the command."""
    pages = cli_pages(app)
    for slug in ("llm", "llm-report"):
        page = pages[f"reference/cli/{slug}.md"]
        assert "ml llm report EXPERIMENT --by model --format markdown" in " ".join(page.split())
    assert "Real runs of the command; the output is what it printed." not in "".join(pages.values())
    migrate = pages["reference/cli/server-migrate.md"]
    assert "PostgreSQL" not in migrate.split("## Examples of use")[1].split("```")[0]
    assert "sort" not in pages["reference/cli/runs.md"].split("## Examples of use")[1]
