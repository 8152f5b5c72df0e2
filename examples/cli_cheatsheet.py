"""The `ml` cheatsheet, generated from the live command tree.

Every command, its synopsis (arguments and options, read from the CLI itself) and its
one-line help, grouped by stage. A command added to mltrack shows up here on the next
docs build; a command missing from the groups below fails this script.
"""

import typer.main
from rich.console import Console
from rich.table import Table

from mltrack.cli import app

STAGES = {
    "Build": ["train", "runs", "sync"],
    "Ship": ["save", "models", "promote", "ship", "try"],
    "Monitor": ["compare", "card", "llm", "ui"],
    "Set up": ["doctor", "server", "docs"],
}

root = typer.main.get_command(app)  # the click command tree that `ml` runs


def synopsis(path: str, command) -> str:
    parts = [path]
    for param in command.params:
        if getattr(param, "hidden", False):  # e.g. --json, the old spelling of --format json
            continue
        if param.param_type_name == "argument":
            name = (param.metavar or param.name).strip("[]").upper()
            parts.append(name if param.required else f"[{name}]")
        elif param.param_type_name == "option" and param.opts[0] != "--help":
            flag = max(param.opts, key=len)
            parts.append(
                f"[{flag}]"
                if param.is_flag
                else f"[{flag} {flag.lstrip('-').replace('-', '_').upper()}]"
            )
    return " ".join(parts)


def entries(prefix: str, group, names: list[str]):
    for name in names:
        command = group.commands[name]
        if hasattr(command, "commands"):  # a command group: list its sub-commands
            for sub in sorted(command.commands):
                yield from entries(f"{prefix} {name}", command, [sub])
            if command.invoke_without_command or command.params:
                yield synopsis(f"{prefix} {name}", command), command
        else:
            yield synopsis(f"{prefix} {name}", command), command


listed = {name for names in STAGES.values() for name in names}
missing = set(root.commands) - listed
assert not missing, f"add {sorted(missing)} to STAGES"

console = Console(width=100)
for stage, names in STAGES.items():
    table = Table(title=stage, title_justify="left", show_header=False, expand=True)
    table.add_column("command", style="bold cyan", ratio=3)
    table.add_column("what it does", ratio=2)
    for line, command in entries("ml", root, names):
        summary = (command.short_help or command.help or "").split("\n")[0]
        table.add_row(line, summary.replace("``", "`"))
    console.print(table)

# --- checks ---
# Every command of the live tree is in a stage, and every stage names real commands.
assert set(root.commands) == listed, set(root.commands) ^ listed
assert {"docs", "serve"} & set(root.commands), sorted(root.commands)
