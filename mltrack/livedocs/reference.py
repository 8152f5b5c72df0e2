"""Generate reference pages (Markdown) from the live code: CLI, API and configuration.

Nothing here is typed by hand: the CLI pages walk the Click command tree behind the
Typer app and embed real ``--help`` output through ``cli:`` directives, the API pages
hand each public module to mkdocstrings, and the configuration page is read from the
pydantic settings model.
"""

from __future__ import annotations

import contextlib
import enum
import html
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "API_GROUPS",
    "CLI_EXAMPLES",
    "INTERNAL_MODULES",
    "ApiGroup",
    "cli_pages",
]


# -- CLI ---------------------------------------------------------------------------------


# Typer may vendor its own copy of Click, so commands are handled by duck typing.
def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands") and hasattr(command, "get_command")


def _context(command: Any, info_name: str | None = None) -> Any:
    return command.context_class(command, info_name=info_name)


def _walk(group: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    ctx = _context(group)
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        if command is None or getattr(command, "hidden", False):
            continue
        yield [*path, name], command
        if _is_group(command):
            yield from _walk(command, [*path, name])


#: A Markdown code span: a run of backticks, its text, the same run again.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def _outside_code(text: str, escape: Callable[[str], str]) -> str:
    """``text`` with ``escape`` applied to everything but its code spans."""
    parts, start = [], 0
    for span in _CODE_SPAN.finditer(text):
        parts += [escape(text[start : span.start()]), span.group(0)]
        start = span.end()
    parts.append(escape(text[start:]))
    return "".join(parts)


def _md_text(text: str) -> str:
    """``text`` as Markdown that shows it as written: ``<``, ``>`` and ``&`` as entities.

    Otherwise ``ship/<model>-<target>`` would be read as HTML tags and vanish from the
    page. Code spans are left alone: they show their text literally (``&lt;`` included).
    """
    return _outside_code(text, lambda part: html.escape(part, quote=False))


def _md_cell(text: str) -> str:
    """``text`` as the content of one Markdown table cell: one line, no column break.

    Like :func:`_md_text`, and a pipe outside a code span is escaped. Inside one it is
    not: Python-Markdown's tables do not split a row on it there, and would show the
    backslash of an escape.
    """
    one_line = " ".join(text.splitlines()).strip()
    return _outside_code(one_line, lambda part: html.escape(part, quote=False).replace("|", "\\|"))


def _strip_markup(text: str) -> str:
    """Remove rich console markup (``[bold]x[/]``) from help strings."""
    return re.sub(r"\[/?[a-z ]*\]", "", text or "")


def _type_of(param: Any, ctx: Any) -> str:
    if getattr(param, "type", None) is not None:
        return str(param.type.name).upper()
    with contextlib.suppress(Exception):
        return str(param.display_type(ctx)).strip("<>")
    return ""


def _default_shown(param: Any) -> str:
    """An option's default as the Options table shows it; blank when there is none."""
    default = param.default
    if callable(default) or default is None or default == () or default is False:
        return ""
    if getattr(param, "is_flag", False) and default is True and param.opts:
        return f"`{param.opts[0]}`"  # --serve-artifacts, not True
    if isinstance(default, enum.Enum):
        default = default.value
    return f"`{default}`"


def _row(*cells: str) -> str:
    """A Markdown table row; each cell is Markdown (code spans are kept)."""
    return "| " + " | ".join(_md_cell(cell) for cell in cells) + " |"


def _param_rows(command: Any) -> tuple[list[str], list[str]]:
    arguments, options = [], []
    ctx = _context(command)
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        help_text = _strip_markup(getattr(param, "help", None) or "")
        metavar = getattr(param, "metavar", None)
        type_name = metavar.strip("<>[]") if metavar else _type_of(param, ctx)
        if param.param_type_name == "argument":
            required = "yes" if param.required else "no"
            name = (param.name or "").upper() if not metavar else metavar.strip("[]")
            arguments.append(_row(f"`{name}`", _type_of(param, ctx), required, help_text))
            continue
        names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        if getattr(param, "is_flag", False):
            type_name = "flag"
        options.append(_row(names, type_name, _default_shown(param), help_text))
    return arguments, options


def _examples(command: Any) -> str:
    """An ``Examples:`` section of the docstring, shown as a console block."""
    doc = inspect.cleandoc(command.help or "")
    match = re.search(r"^Examples?:\s*\n(?P<body>(?:[ \t]+.*\n?|\s*\n)+)", doc, re.M)
    if not match:
        return ""
    body = inspect.cleandoc(match.group("body"))
    return f"## Examples\n\n```console\n{body}\n```\n"


def _file(path: str, show: str = "output") -> str:
    return f"file: {path}\nshow: {show}"


#: The LLM report example prints the reports without a command line: the caption names it.
_LLM_REPORT = (
    "Four traced calls to two fake models: what `ml llm report EXPERIMENT --by model "
    "--format markdown` printed, then the same `--by provider`."
)


#: Real use of each command, executed like any example and shown on its page above ``--help``:
#: ``(what it shows, livedocs block body)``. Commands that need a run, a model or a server
#: get an example script that creates that state and then runs the command itself (CLI
#: captures run against the build's fresh server, where a cached example left nothing).
CLI_EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "ml doctor": [("Check Python, MLflow, the tracking server and git.", "cli: ml doctor")],
    "ml train": [
        (
            "Train a script under a run, then list it: a real session.",
            _file("examples/home_terminal.py"),
        )
    ],
    "ml runs": [
        ("Runs of an experiment, after `ml train`.", _file("examples/home_terminal.py")),
        (
            "Filter by experiment and limit to the two latest runs, then the same as JSON.",
            _file("examples/cli_runs.py"),
        ),
    ],
    "ml sync": [
        (
            "Metrics spooled while the server was down, sent once it is back.",
            _file("examples/cli_sync.py"),
        )
    ],
    "ml save": [
        ("Register a run's model, promote it, list it.", _file("examples/registry_cli.py"))
    ],
    "ml models": [
        (
            "The versions of a model with their metrics and aliases.",
            _file("examples/registry_cli.py"),
        )
    ],
    "ml promote": [("Move the champion alias to a version.", _file("examples/registry_cli.py"))],
    "ml card": [("A model card as Markdown, then as an HTML file.", _file("examples/cli_card.py"))],
    "ml compare": [
        (
            "Rank an experiment's runs, then compare a model's champion and challenger.",
            _file("examples/cli_compare.py"),
        )
    ],
    "ml ship": [
        (
            "Deploy artifacts for Docker and KServe written with `--dry-run`, then an unknown "
            "target and a model that does not exist.",
            _file("examples/deploy_cli.py"),
        )
    ],
    "ml try": [
        (
            "Send the input example, then your own JSON, then JSON that lacks columns.",
            _file("examples/serve_try.py"),
        )
    ],
    "ml ui": [
        (
            "Start the MLflow UI, open it over HTTP, then stop it with Ctrl-C.",
            _file("examples/cli_ui.py"),
        )
    ],
    "ml docs": [
        ("`ml docs check` on a failing example.", _file("examples/contributing_failure.py"))
    ],
    "ml docs run": [
        (
            "Execute a small project's examples, then pin their output with `ml docs snapshot` "
            "and check it.",
            _file("examples/cli_docs.py"),
        )
    ],
    "ml docs check": [
        ("What CI sees when an example fails.", _file("examples/contributing_failure.py"))
    ],
    "ml docs snapshot": [
        (
            "Execute a small project's examples, write their snapshots with `--update`, then "
            "check the outputs against them.",
            _file("examples/cli_docs.py"),
        )
    ],
    "ml llm": [(_LLM_REPORT, _file("examples/llm_report.py"))],
    "ml llm report": [(_LLM_REPORT, _file("examples/llm_report.py"))],
    "ml server": [
        (
            "Start a team server on SQLite with basic auth (`ml server --auth`), then "
            "`ml server --check URL` with the admin's password and with a wrong one.",
            _file("examples/team_server_sqlite.py"),
        )
    ],
    "ml server user-add": [
        (
            "Add a user, then grant her EDIT on an experiment and on a registered model.",
            _file("examples/team_server_users.py"),
        )
    ],
    "ml server grant": [
        (
            "Grant a user EDIT on an experiment, then on a registered model (`--model`).",
            _file("examples/team_server_users.py"),
        )
    ],
    "ml server migrate": [
        (
            "Back up a SQLite database, then bring its schema to this MLflow version (here "
            "already current: nothing to do).",
            _file("examples/team_server_migrate.py"),
        )
    ],
}


#: Under "Examples of use": true of a `cli:` block and of an example script alike.
_USES_LEAD = (
    "Executed when these docs were built: each block shows what the command, or the example "
    "script that runs it, printed.\n"
)


def _uses(command: str) -> str:
    blocks = CLI_EXAMPLES.get(command, [])
    if not blocks:
        return ""
    parts = ["## Examples of use\n", _USES_LEAD]
    for caption, body in blocks:
        parts.append(f"{caption}\n\n```livedocs\n{body}\n```\n")
    return "\n".join(parts)


def cli_pages(app: Any, prog: str = "ml", base: str = "reference/cli") -> dict[str, str]:
    """One page per command of a Typer app (or Click group), plus an index page.

    Args:
        app: a ``typer.Typer`` or a Click group.
        prog: the program name users type.
        base: directory of the pages inside the docs.

    Returns:
        Docs-relative path -> Markdown.
    """
    if _is_group(app):
        root = app
    else:
        import typer.main

        root = typer.main.get_command(app)
    pages: dict[str, str] = {}
    index_rows = []
    for path, command in _walk(root, []):
        full = " ".join([prog, *path])
        slug = "-".join(path)
        summary = _strip_markup(command.get_short_help_str(limit=120))
        index_rows.append(_row(f"[`{full}`]({slug}.md)", summary))
        help_text = _strip_markup(inspect.cleandoc(command.help or ""))
        help_text = _md_text(re.split(r"^Examples?:\s*$", help_text, flags=re.M)[0].strip())
        ctx = _context(command, info_name=full)
        usage = " ".join(command.collect_usage_pieces(ctx))
        usage = re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), usage)
        arguments, options = _param_rows(command)
        parts = [f"# `{full}`\n", help_text + "\n", f"```text\n{full} {usage}\n```\n"]
        if arguments:
            parts.append(
                "## Arguments\n\n| Name | Type | Required | Description |\n|---|---|---|---|"
            )
            parts.append("\n".join(arguments) + "\n")
        if options:
            parts.append(
                "## Options\n\n| Option | Type | Default | Description |\n|---|---|---|---|"
            )
            parts.append("\n".join(options) + "\n")
        parts.append(_examples(command))
        parts.append(_uses(full))
        parts.append(
            f"## Help output\n\nWhat `{full} --help` prints.\n\n"
            f"```livedocs\ncli: {full} --help\n```\n"
        )
        pages[f"{base}/{slug}.md"] = "\n".join(p for p in parts if p)
    root_help = _md_text(_strip_markup(inspect.cleandoc(root.help or "")))
    pages[f"{base}/index.md"] = (
        f"# CLI reference\n\n{root_help}\n\nEach command's page has its arguments and "
        "options, real uses with their output, and what its `--help` prints. Exit statuses "
        "and output formats are on the [cheatsheet](../../cli-cheatsheet.md).\n\n"
        "| Command | What it does |\n|---|---|\n" + "\n".join(index_rows) + "\n\n"
        f"```livedocs\ncli: {prog} --help\n```\n"
    )
    return pages


# -- API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiGroup:
    """A page of the Python API reference: the modules a reader reaches for together.

    Attributes:
        slug: the page's file name (``reference/api/SLUG.md``).
        title: the page title and its entry in the navigation.
        summary: one sentence for the index: what the group is for.
        modules: dotted names of the modules documented on the page, in order.
        example: the executed example shown at the top of the page (``examples/...``).
    """

    slug: str
    title: str
    summary: str
    modules: tuple[str, ...]
    example: str


#: The Python API, grouped the way users reach for it; the docs engine comes last.
API_GROUPS: tuple[ApiGroup, ...] = (
    ApiGroup(
        "tracking",
        "Tracking",
        "Runs: the `@track` decorator, `run()` blocks, reading runs back, autolog, git info.",
        ("mltrack.tracking", "mltrack.frameworks", "mltrack.gitinfo"),
        "examples/api_tracking.py",
    ),
    ApiGroup(
        "logging",
        "Logging",
        "Metrics from training loops: buffered, batched, spooled while the server is away.",
        ("mltrack.logging",),
        "examples/api_logging.py",
    ),
    ApiGroup(
        "llm",
        "LLM",
        "Cost, tokens and latency of LLM calls, budgets, the usage report, a fake LLM server.",
        ("mltrack.llm", "mltrack.llm.report", "mltrack.testing"),
        "examples/api_llm.py",
    ),
    ApiGroup(
        "registry",
        "Registry",
        "Register models, move the champion/challenger aliases, list models and versions.",
        ("mltrack.registry",),
        "examples/api_registry.py",
    ),
    ApiGroup(
        "cards-insights",
        "Cards & insights",
        "Model cards, run rankings and champion/challenger comparisons.",
        ("mltrack.cards", "mltrack.insights"),
        "examples/api_cards_insights.py",
    ),
    ApiGroup(
        "serving-deploy",
        "Serving & deploy",
        "Serve a model over HTTP, on this machine or packaged for Docker, Modal, Lambda, k8s.",
        ("mltrack.deploy", "mltrack.deploy.local", "mltrack.serve"),
        "examples/api_serving.py",
    ),
    ApiGroup(
        "configuration",
        "Configuration",
        "Settings from `.mltrack.yml` and the environment, and the tracking store they select.",
        ("mltrack.config", "mltrack.store"),
        "examples/api_configuration.py",
    ),
    ApiGroup(
        "errors",
        "Errors",
        "The exceptions mltrack raises: one base class, one line naming the problem and fix.",
        ("mltrack.errors",),
        "examples/api_errors.py",
    ),
    ApiGroup(
        "team-server",
        "Team server",
        "A shared tracking server: PostgreSQL, artifact proxy, users and permissions.",
        ("mltrack.teamserver",),
        "examples/api_team_server.py",
    ),
    ApiGroup(
        "livedocs",
        "mltrack.livedocs (docs engine)",
        "`mltrack.livedocs`: the engine that executes every example of these docs.",
        (
            "mltrack.livedocs",
            "mltrack.livedocs.directives",
            "mltrack.livedocs.redact",
            "mltrack.livedocs.snapshots",
            "mltrack.livedocs.reference",
            "mltrack.livedocs.plugin",
            "mltrack.livedocs.fence",
        ),
        "examples/api_livedocs.py",
    ),
)

#: Modules that are plumbing, not API, and why: on no page of the API reference.
INTERNAL_MODULES: dict[str, str] = {
    "mltrack.cli": "the `ml` command line has its own reference",
    "mltrack.__main__": "`python -m mltrack` runs the CLI",
    "mltrack.run_context": "the current-run stack behind `mltrack.tracking`",
    "mltrack.notices": "one-time warnings printed by the library",
    "mltrack.artifact_reads": "mltrack's own artifact reads, without MLflow's download bar",
    "mltrack.mlflow_errors": "translates MLflow's exceptions into `mltrack.errors`",
    "mltrack.localserver": "throwaway MLflow servers for tests and the docs build",
    "mltrack.spool": "the on-disk spool behind `mltrack.logging`",
    "mltrack.transport": "HTTP batches to the tracking server, behind `mltrack.logging`",
    "mltrack.uris": "how mltrack shows and stores URIs without their passwords",
    "mltrack.serverapp": "the WSGI apps `ml server` runs",
    "mltrack.deploy.docker": "a target of `mltrack.ship`",
    "mltrack.deploy.kubernetes": "a target of `mltrack.ship`",
    "mltrack.deploy.lambda_": "a target of `mltrack.ship`",
    "mltrack.deploy.modal": "a target of `mltrack.ship`",
    "mltrack.serve.app": "exported by `mltrack.serve`",
    "mltrack.serve.lambda_handler": "runs inside the Lambda image `ml ship --to lambda` builds",
    "mltrack.serve.metrics": "the served model's `/metrics`",
    "mltrack.serve.model": "exported by `mltrack.serve`",
    "mltrack.serve.openapi": "the served model's OpenAPI schema",
    "mltrack.serve.predictor": "exported by `mltrack.serve`",
    "mltrack.serve.schema": "exported by `mltrack.serve`",
    "mltrack.testing.fake_llm": "exported by `mltrack.testing`",
    "mltrack.testing.load": "load generators of the benchmarks",
    "mltrack.testing.postgres": "a temporary PostgreSQL for the team-server tests",
}


def internal_reason(module: str, groups: tuple[ApiGroup, ...] = API_GROUPS) -> str | None:
    """Why ``module`` is on no page of the API reference; None for a documented module."""
    if _group_of(module, groups) is not None:
        return None
    if module in INTERNAL_MODULES:
        return INTERNAL_MODULES[module]
    if module.endswith(".__main__"):
        return "runs the package as a script"
    if module.startswith("mltrack.livedocs."):
        return "inside the docs engine; its API is exported by `mltrack.livedocs`"
    return None


def public_modules(package: str = "mltrack") -> list[str]:
    """Dotted names of the modules of ``package`` without a ``_private`` part.

    Internal modules (:data:`INTERNAL_MODULES`) are listed too: this is every module a
    reader could import. :func:`api_pages` documents those of :data:`API_GROUPS`.
    """
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") and p != "__main__" for p in parts):
            continue
        if info.name.startswith("mltrack.cli."):
            continue  # the CLI's modules: the CLI reference covers them
        names.append(info.name)
    return sorted(names)


def _exports(package: str) -> dict[str, str]:
    """Top-level name -> module defining it, for a package with a lazy ``_EXPORTS`` map."""
    pkg = importlib.import_module(package)
    exports = getattr(pkg, "_EXPORTS", None)
    if isinstance(exports, dict):
        return {str(k): str(v) for k, v in exports.items()}
    return {}


def _group_of(module: str, groups: tuple[ApiGroup, ...]) -> ApiGroup | None:
    for group in groups:
        if module in group.modules:
            return group
    return None


def _group_page(group: ApiGroup) -> str:
    parts = [
        f"# {group.title}\n",
        f"{group.summary}\n",
        "## Example\n",
        "A real run: the output is what this code printed.\n",
        f"```livedocs\nfile: {group.example}\n```\n",
    ]
    for module in group.modules:
        parts.append(f"## `{module}`\n")
        parts.append(f"::: {module}\n    options:\n      heading_level: 3\n")
    return "\n".join(parts)


def api_pages(
    package: str = "mltrack",
    base: str = "reference/api",
    groups: tuple[ApiGroup, ...] = API_GROUPS,
) -> dict[str, str]:
    """The Python API reference: an index, the ``import mltrack`` shortcuts, a page per group.

    Each group page starts with its executed example, then hands each of its modules to
    mkdocstrings. Pages are returned in reading order (the navigation keeps it).

    Args:
        package: the top-level package.
        base: directory of the pages inside the docs.
        groups: the pages and the modules on each.

    Returns:
        Docs-relative path -> Markdown.
    """
    rows = [f"| [`{package}`]({package}.md) | `import {package}`: the shortcuts |"]
    for group in groups:
        modules = ", ".join(f"`{m}`" for m in group.modules)
        rows.append(f"| [{group.title}]({group.slug}.md) | {group.summary} ({modules}) |")
    pages = {
        f"{base}/index.md": (
            "# Python API reference\n\nThe docstrings of the public API, grouped by what you do "
            "with it. Each page starts with a real example and its output.\n"
            "\n| Page | What it covers |\n|---|---|\n" + "\n".join(rows) + "\n"
        )
    }
    shortcut_rows = []
    for name, module in _exports(package).items():
        home = _group_of(module, groups)
        where = f"[{home.title}]({home.slug}.md#{module}.{name})" if home else f"`{module}`"
        shortcut_rows.append(f"| `{package}.{name}` | `{module}.{name}` | {where} |")
    pages[f"{base}/{package}.md"] = (
        f"# `{package}`\n\n`import {package}` gives the names below; each is documented, "
        "with an executed example, on its group's page.\n\n"
        "| Name | Defined in | Page |\n|---|---|---|\n" + "\n".join(shortcut_rows) + "\n"
    )
    for group in groups:
        pages[f"{base}/{group.slug}.md"] = _group_page(group)
    return pages


# -- configuration -----------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if not hasattr(annotation, "__args__") else None
    text = text or str(annotation).replace("typing.", "")
    return re.sub(r"\b(mltrack\.config\.|pathlib\.)", "", text)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "" if hasattr(value, "model_fields") else f"`{value!r}`"
    if field.default is None:
        return "unset"
    value = field.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def config_rows(
    model: Any, prefix: str = "", env_prefix: str = "MLTRACK_"
) -> list[tuple[str, ...]]:
    """(key, type, default, env var, description) for every setting, sections flattened."""
    rows = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            rows += config_rows(annotation, f"{prefix}{name}.", f"{env_prefix}{name.upper()}__")
            continue
        rows.append(
            (
                f"{prefix}{name}",
                _type_name(annotation),
                _default(field),
                f"{env_prefix}{name.upper()}",
                field.description or "",
            )
        )
    return rows


def config_page(model: Any | None = None) -> str:
    """The configuration reference page from the settings model."""
    if model is None:
        from mltrack.config import Settings

        model = Settings
    lines = [
        "# Configuration reference",
        "",
        "Every key can be set in `.mltrack.yml` (searched upwards from the working directory),",
        "overridden by its environment variable, and overridden again by explicit arguments.",
        "Nested keys are written as sections in YAML (`docs:` then `timeout_s: 60`) and with a",
        "double underscore in the environment (`MLTRACK_DOCS__TIMEOUT_S=60`).",
        "This page is generated from `mltrack.config.Settings`.",
        "",
    ]
    section = None
    for key, type_name, default, env, description in config_rows(model):
        head = key.split(".")[0] if "." in key else ""
        if head != section:
            section = head
            title = f"`{head}` section" if head else "Top-level keys"
            sub = getattr(model.model_fields.get(head), "annotation", None) if head else None
            doc = inspect.cleandoc(sub.__doc__ or "") if sub is not None else ""
            lines += ["", f"## {title}", "", doc, ""]
            lines += ["| Key | Type | Default | Environment variable | Description |"]
            lines += ["|---|---|---|---|---|"]
        lines.append(_row(f"`{key}`", f"`{type_name}`", default, f"`{env}`", description))
    return "\n".join(lines) + "\n"


#: The command-line app the CLI pages document, named the way entry points are.
MLTRACK_CLI = "mltrack.cli:app"


def load_cli(spec: str) -> Any:
    """The Typer/Click app named ``module:attribute``.

    Loaded by name, as mkdocs-click does, so the docs engine has no import of the CLI
    (the library never imports ``mltrack.cli``; the CLI imports the engine).

    Raises:
        ValueError: ``spec`` is not ``module:attribute`` or names nothing.
    """
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise ValueError(f"CLI '{spec}' is not module:attribute (e.g. {MLTRACK_CLI})")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load the CLI '{spec}': {exc}") from None


def reference_pages(app: Any | None = None) -> dict[str, str]:
    """All generated reference pages for mltrack (docs-relative path -> Markdown).

    Args:
        app: the CLI to document; default: ``ml`` (:data:`MLTRACK_CLI`).
    """
    pages = cli_pages(app if app is not None else load_cli(MLTRACK_CLI))
    pages.update(api_pages())
    pages["reference/configuration.md"] = config_page()
    return pages


# -- build report ------------------------------------------------------------------------


def build_report_page(telemetry: dict[str, Any]) -> str:
    """The "Docs build report" page from a build's telemetry (``last-build.json``)."""
    items = telemetry.get("items", [])
    lines = [
        "# Docs build report",
        "",
        "Generated by the build that produced this site, from the same data as",
        "`.cache/livedocs/last-build.json`.",
        "",
        f"- items: **{len(items)}** ({telemetry.get('executed', 0)} executed, "
        f"{telemetry.get('cached', 0)} from the cache, {telemetry.get('failed', 0)} failed)",
        f"- throwaway MLflow server started: **{'yes' if telemetry.get('server_started') else 'no'}**"
        + (
            f" ({telemetry.get('server_start_s', 0):.1f} s)"
            if telemetry.get("server_started")
            else ""
        ),
        f"- workers: {telemetry.get('jobs', 0)}; execution wall time: "
        f"{telemetry.get('wall_s', 0):.1f} s",
        "",
        "## Slowest items",
        "",
        "| Item | Seconds | CPU seconds |",
        "|---|---|---|",
    ]
    slowest = telemetry.get("slowest") or sorted(items, key=lambda i: -i["duration_s"])[:5]
    for item in slowest:
        lines.append(
            _row(f"`{item['id']}`", f"{item['duration_s']:.2f}", _number(item, "cpu_s", 2))
        )
    lines += [
        "",
        "## All items",
        "",
        "Times of cached items are those of the build that executed them. CPU seconds count",
        "the item's process and the processes it waited for, not servers it left running;",
        "a `cli:` item runs the command itself, not in a worker, and its CPU time is not",
        "measured (—).",
        "",
        "| Item | Status | Seconds | CPU seconds | Peak RSS (MiB) | Cache |",
        "|---|---|---|---|---|---|",
    ]
    for item in sorted(items, key=lambda i: i["id"]):
        lines.append(
            _row(
                f"`{item['id']}`",
                item["status"],
                f"{item['duration_s']:.2f}",
                _number(item, "cpu_s", 2),
                _number(item, "peak_rss_mb", 0),
                "hit" if item["cached"] else "miss",
            )
        )
    return "\n".join(lines) + "\n"


def _number(item: dict[str, Any], key: str, digits: int) -> str:
    """A measured value of a report row, a dash when it was not measured."""
    value = item.get(key)
    return "—" if value is None else f"{value:.{digits}f}"
