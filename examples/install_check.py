"""Check an installation and list the install commands for each optional extra.

Everything printed comes from the installed package's own metadata, so the extras and
their requirements are always the ones this version of mltrack declares.
"""

import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
from collections import defaultdict

import mltrack


def fresh_import_ms() -> float:
    """`import mltrack` in a new interpreter (here it may be imported already)."""
    report = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import mltrack"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    # "import time: self [us] | cumulative | module": the package's line is the last one.
    (cumulative,) = re.findall(r"\|\s*(\d+) \| mltrack$", report, flags=re.MULTILINE)
    return int(cumulative) / 1000


import_ms = fresh_import_ms()
dist = metadata.distribution("mltrack")
print(f"mltrack {mltrack.__version__} on Python {sys.version.split()[0]}")
print(
    f"requires Python {dist.metadata['Requires-Python']}; `import mltrack` took {import_ms:.0f} ms"
)

scripts = [ep for ep in dist.entry_points if ep.group == "console_scripts"]
print("commands:", ", ".join(f"{ep.name} -> {ep.value}" for ep in scripts))
cli = shutil.which("ml")
done = subprocess.run(
    [cli, "--version"] if cli else [sys.executable, "-m", "mltrack", "--version"],
    capture_output=True,
    text=True,
)
print("ml --version:", done.stdout.strip())

extras: dict[str, list[str]] = defaultdict(list)
for requirement in dist.requires or []:
    match = re.search(r"""extra == ['"]([\w-]+)['"]""", requirement)
    if match:
        extras[match.group(1)].append(requirement.split(";")[0].strip())

print("\nInstall with uv (recommended) or pip:")
print("  uv add mltrack")
print("  pip install mltrack")
print("\nOptional extras (pulled in only when you ask for them):")
for extra in sorted(extras):
    print(f'  uv add "mltrack[{extra}]"'.ljust(36), "->", ", ".join(extras[extra]))

# --- checks ---
assert done.returncode == 0 and mltrack.__version__ in done.stdout, done
assert 1 < import_ms < 10_000, import_ms  # measured, in a fresh interpreter
assert {ep.name for ep in scripts} >= {"ml"}, scripts
assert extras, "mltrack declares optional extras"
