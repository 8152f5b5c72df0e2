"""What a failing example looks like: `ml docs check` on a tiny project whose example raises.

The project has one page embedding one example; the example looks up an alias that does
not exist. The check (what CI and `make build` run) stops with the page line, the example
line, the exception, the failing source line and the traceback tail.
"""
# livedocs: timeout=180
# livedocs: snapshot_mask=failed\s+│\s+[0-9.]+

import os
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE = """# Model registry

Which version serves production?

```livedocs
file: examples/registry_promote.py
```
"""
EXAMPLE = """aliases = {"challenger": 2}
print("aliases:", aliases)
champion = aliases["champion"]
"""

with tempfile.TemporaryDirectory(prefix="docs-check-") as project:
    root = Path(project)
    (root / "docs" / "guides").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "docs" / "guides" / "registry.md").write_text(PAGE)
    (root / "examples" / "registry_promote.py").write_text(EXAMPLE)
    print("$ ml docs check")
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", "docs", "check", "--jobs", "1"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # progress and the error, in the order they were printed
        text=True,
        # A clean environment: this build's own server and settings are not the project's.
        env={
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "MLTRACK_", "LIVEDOCS_"))
        }
        | {"NO_COLOR": "1", "MLTRACK_NO_CACHE": "1"},
    )
    print(done.stdout.strip())
    print(f"(exit status {done.returncode})")

# --- checks ---
assert done.returncode == 1, done.returncode
expected = "docs/guides/registry.md:5 -> examples/registry_promote.py:3: KeyError: 'champion'"
assert expected in done.stdout, done.stdout
assert '3 | champion = aliases["champion"]' in done.stdout
