"""Generate reference pages (Markdown) from the live code: CLI, API and configuration.

Nothing here is typed by hand: the CLI pages walk the Click command tree behind the
Typer app and embed real ``--help`` output through ``cli:`` directives, the API pages
hand each public module to mkdocstrings, and the configuration page is read from the
pydantic settings model.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "api_pages",
    "build_report_page",
    "cli_pages",
    "config_page",
    "public_modules",
    "reference_pages",
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


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _strip_markup(text: str) -> str:
    """Remove rich console markup (``[bold]x[/]``) from help strings."""
    return re.sub(r"\[/?[a-z ]*\]", "", text or "")


def _type_of(param: Any, ctx: Any) -> str:
    if getattr(param, "type", None) is not None:
        return str(param.type.name).upper()
    with contextlib.suppress(Exception):
        return str(param.display_type(ctx)).strip("<>")
    return ""


def _param_rows(command: Any) -> tuple[list[str], list[str]]:
    arguments, options = [], []
    ctx = _context(command)
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        help_text = _md_cell(_strip_markup(getattr(param, "help", None) or ""))
        type_name = _type_of(param, ctx)
        if param.param_type_name == "argument":
            required = "yes" if param.required else "no"
            arguments.append(
                f"| `{(param.name or '').upper()}` | {type_name} | {required} | {help_text} |"
            )
            continue
        names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        default = param.default
        if callable(default) or default is None or default == () or default is False:
            shown = ""
        else:
            shown = f"`{default}`"
        if getattr(param, "is_flag", False):
            type_name = "flag"
        options.append(f"| {names} | {type_name} | {shown} | {help_text} |")
    return arguments, options


def _examples(command: Any) -> str:
    """An ``Examples:`` section of the docstring, shown as a console block."""
    doc = inspect.cleandoc(command.help or "")
    match = re.search(r"^Examples?:\s*\n(?P<body>(?:[ \t]+.*\n?|\s*\n)+)", doc, re.M)
    if not match:
        return ""
    body = inspect.cleandoc(match.group("body"))
    return f"## Examples\n\n```console\n{body}\n```\n"


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
        summary = _md_cell(_strip_markup(command.get_short_help_str(limit=120)))
        index_rows.append(f"| [`{full}`]({slug}.md) | {summary} |")
        help_text = _strip_markup(inspect.cleandoc(command.help or ""))
        help_text = re.split(r"^Examples?:\s*$", help_text, flags=re.M)[0].strip()
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
        parts.append(
            "## Help output\n\nCaptured from the real command at build time.\n\n"
            f"```livedocs\ncli: {full} --help\n```\n"
        )
        pages[f"{base}/{slug}.md"] = "\n".join(p for p in parts if p)
    root_help = _strip_markup(inspect.cleandoc(root.help or ""))
    pages[f"{base}/index.md"] = (
        f"# CLI reference\n\n{root_help}\n\nEvery page below is generated from the live "
        "command tree at build time; the help output is captured from the real command.\n\n"
        "| Command | What it does |\n|---|---|\n" + "\n".join(index_rows) + "\n\n"
        f"```livedocs\ncli: {prog} --help\n```\n"
    )
    return pages


# -- API ---------------------------------------------------------------------------------

#: Modules that are plumbing, not API (the CLI has its own reference).
_PRIVATE_MODULES = {"cli", "__main__"}


def public_modules(package: str = "mltrack") -> list[str]:
    """Dotted names of the public modules of ``package`` (no ``_private`` parts, no CLI)."""
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or parts[0] in _PRIVATE_MODULES:
            continue
        names.append(info.name)
    return sorted(names)


def api_pages(package: str = "mltrack", base: str = "reference/api") -> dict[str, str]:
    """One mkdocstrings page per public module, plus an index page."""
    pages = {}
    rows = []
    for name in public_modules(package):
        slug = name.replace(".", "-") if name != package else package
        rows.append(f"| [`{name}`]({slug}.md) |")
        pages[f"{base}/{slug}.md"] = f"# `{name}`\n\n::: {name}\n"
    pages[f"{base}/index.md"] = (
        "# API reference\n\nGenerated from the docstrings of every public module.\n\n"
        "| Module |\n|---|\n" + "\n".join(rows) + "\n"
    )
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
        row = [f"`{key}`", f"`{_md_cell(type_name)}`", default, f"`{env}`", _md_cell(description)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def reference_pages(app: Any | None = None) -> dict[str, str]:
    """All generated reference pages for mltrack (docs-relative path -> Markdown)."""
    if app is None:
        from mltrack.cli import app as ml_app

        app = ml_app
    pages = cli_pages(app)
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
        "| Item | Seconds |",
        "|---|---|",
    ]
    slowest = telemetry.get("slowest") or sorted(items, key=lambda i: -i["duration_s"])[:5]
    for item in slowest:
        lines.append(f"| `{_md_cell(item['id'])}` | {item['duration_s']:.2f} |")
    lines += [
        "",
        "## All items",
        "",
        "Times of cached items are those of the build that executed them.",
        "",
        "| Item | Status | Seconds | Peak RSS (MiB) | Cache |",
        "|---|---|---|---|---|",
    ]
    for item in sorted(items, key=lambda i: i["id"]):
        rss = item.get("peak_rss_mb")
        lines.append(
            f"| `{_md_cell(item['id'])}` | {item['status']} | {item['duration_s']:.2f} | "
            f"{'' if rss is None else f'{rss:.0f}'} | {'hit' if item['cached'] else 'miss'} |"
        )
    return "\n".join(lines) + "\n"
