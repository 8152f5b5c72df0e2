"""The docs engine's API: find the blocks of a page, redact output, generate reference pages.

`find_directives` is how the engine sees a page; `redactor_for` builds the redactor that
every captured output goes through; `snapshots.mask` is what a snapshot hides; and
`reference.cli_pages` turns any Typer app into one page per command.
"""

import typer

from mltrack.livedocs import find_directives
from mltrack.livedocs.redact import redactor_for
from mltrack.livedocs.reference import cli_pages
from mltrack.livedocs.snapshots import mask

PAGE = """# Quick start

```livedocs
file: examples/quickstart.py
show: output
```
"""
for directive in find_directives("docs/quickstart.md", PAGE):
    print(f"{directive.page}:{directive.line} ->", directive.options)

redact = redactor_for(["TOKEN"], environ={"API_TOKEN": "tok-3f9a8b7c6d5e"})
print(redact("Authorization: Bearer tok-3f9a8b7c6d5e"))
print(mask("run 0123456789abcdef0123456789abcdef finished in 3.2s"))

demo = typer.Typer(help="A tiny CLI.")


@demo.command()
def hello(name: str, shout: bool = typer.Option(False, "--shout", help="Upper case.")) -> None:
    """Say hello to NAME."""


@demo.command()
def bye() -> None:
    """Say goodbye."""


pages = cli_pages(demo, prog="demo", base="cli")
print("generated:", sorted(pages))
print(pages["cli/hello.md"].split("## Help output")[0].strip())

# --- checks ---
(directive,) = find_directives("docs/quickstart.md", PAGE)
assert directive.line == 3 and directive.options == {
    "file": "examples/quickstart.py",
    "show": "output",
}
assert "tok-3f9a8b7c6d5e" not in redact("Bearer tok-3f9a8b7c6d5e")
assert sorted(pages) == ["cli/bye.md", "cli/hello.md", "cli/index.md"], sorted(pages)
assert "| `--shout` | flag |" in pages["cli/hello.md"], pages["cli/hello.md"]
