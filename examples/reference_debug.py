"""Debug mode: the same failing command without and with `--debug`.

By default `ml` prints one line and exits with status 2. `--debug` (or `MLTRACK_DEBUG=1`,
or `debug: true` in `.mltrack.yml`) prints the full traceback first, for bug reports; the
line and the exit status stay the same.
"""

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

command = [sys.executable, "-m", "mltrack"]
failing = ["promote", "no-such-model", "1"]

plain = subprocess.run([*command, *failing], capture_output=True, text=True)
print("$ ml " + shlex.join(failing))
print(plain.stderr.strip(), f"\n(exit status {plain.returncode})\n")

debug = subprocess.run([*command, "--debug", *failing], capture_output=True, text=True)
lines = debug.stderr.strip().splitlines()
print("$ ml --debug " + shlex.join(failing))
print(f"({len(lines)} lines: the traceback, then the same line; the first and the last five)")
print("\n".join([lines[0], "  ...", *lines[-5:]]), f"\n(exit status {debug.returncode})\n")

env = {**os.environ, "MLTRACK_DEBUG": "1"}
via_env = subprocess.run([*command, *failing], capture_output=True, text=True, env=env)
print("with MLTRACK_DEBUG=1:", "traceback" if "Traceback" in via_env.stderr else "one line")

with tempfile.TemporaryDirectory() as project:  # a project of its own: yours is untouched
    Path(project, ".mltrack.yml").write_text("debug: true\n")
    via_file = subprocess.run([*command, *failing], capture_output=True, text=True, cwd=project)
print(
    "with debug: true in .mltrack.yml:",
    "traceback" if "Traceback" in via_file.stderr else "one line",
)

# --- checks ---
assert plain.returncode == debug.returncode == 2, (plain.returncode, debug.returncode)
assert len(plain.stderr.strip().splitlines()) == 1 and "no-such-model" in plain.stderr
assert "Traceback" not in plain.stderr and lines[0].startswith("Traceback"), lines[0]
assert "Traceback" in via_env.stderr, "MLTRACK_DEBUG=1 prints the traceback too"
assert "Traceback" in via_file.stderr and via_file.returncode == 2, "so does debug: true"
assert lines[-1] == plain.stderr.strip(), "the traceback ends with the line shown without it"
