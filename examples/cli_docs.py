"""`ml docs run` and `ml docs snapshot`: execute a project's examples, then pin their output.

A tiny project has one page embedding one example. `ml docs run` executes it and
reports; `ml docs snapshot --update` writes the normalised output under
`docs/_snapshots/`, which `ml docs check --snapshots` (CI) compares against.
"""
# livedocs: timeout=240

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE = """# Hello

```livedocs
file: examples/hello.py
```
"""
EXAMPLE = 'print("hello from an example")\n'

# A clean environment: the small project starts its own server, with its own settings.
env = {
    k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_", "LIVEDOCS_"))
} | {"NO_COLOR": "1"}

with tempfile.TemporaryDirectory(prefix="docs-run-") as project:
    root = Path(project)
    (root / "docs").mkdir()
    (root / "examples").mkdir()
    (root / "docs" / "index.md").write_text(PAGE)
    (root / "examples" / "hello.py").write_text(EXAMPLE)

    def ml(*args: str) -> subprocess.CompletedProcess[str]:
        print("$ ml", shlex.join(args))
        done = subprocess.run(
            [sys.executable, "-m", "mltrack", *args],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        print(done.stdout.strip("\n").rstrip(), end="\n\n")
        return done

    ran = ml("docs", "run", "--jobs", "1")
    wrote = ml("docs", "snapshot", "--update", "--jobs", "1")
    checked = ml("docs", "check", "--snapshots", "--jobs", "1")
    snapshot = (root / "docs" / "_snapshots" / "examples__hello.py.txt").read_text()

# --- checks ---
assert ran.returncode == 0 and wrote.returncode == 0, ran.stdout + wrote.stdout
assert checked.returncode == 0, checked.stdout
assert "hello from an example" in snapshot, snapshot
