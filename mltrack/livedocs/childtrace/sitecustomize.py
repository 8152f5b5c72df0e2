"""Records the project files a docs example's *child* Python processes open.

The livedocs worker puts this folder first on ``PYTHONPATH`` while an item runs, so
every Python process the item starts (``ml server``, ``subprocess.run([sys.executable,
...])``, a notebook's kernel) imports it at start-up. Without it, an example that runs
``ml ...`` in a subprocess would not be re-executed when the code behind that command
changes. Each process appends the paths it opens under the project root to
``$MLTRACK_LIVEDOCS_CHILD_OPENS/<pid>.txt`` as it goes (a line each, first time only), so
a server killed at the end still leaves its record. Imports count: the source or
``__pycache__`` file of every module is opened through ``io.open_code``.

Standard library only; it then hands over to any other ``sitecustomize`` further on the
path, so a project's own one still runs.
"""

from __future__ import annotations

import os
import sys

# Installed packages are keyed by the lock file already, and a project's venv opens thousands.
_SITE = os.sep + "site-packages" + os.sep


def _install(already: tuple[str, ...] = ()) -> None:
    """Record this process's opens under the root; ``already``: files it used before
    (a fork of a process that had imported them: ``mltrack._process.fork_call``)."""
    target = os.environ.get("MLTRACK_LIVEDOCS_CHILD_OPENS")
    root = os.environ.get("MLTRACK_LIVEDOCS_ROOT")
    if not target or not root:
        return
    prefixes = tuple({os.path.abspath(root) + os.sep, os.path.realpath(root) + os.sep})
    try:
        # Opened before the hook exists, so its own open is not recorded.
        out = open(os.path.join(target, f"{os.getpid()}.txt"), "a", buffering=1)  # noqa: SIM115
    except OSError:
        return
    seen: set[str] = set()

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event != "open" or not args or not isinstance(args[0], str):
            return
        # An exception here would fail the process's own open(): never let one out.
        try:
            path = args[0] if os.path.isabs(args[0]) else os.path.join(os.getcwd(), args[0])
            if path not in seen and path.startswith(prefixes) and _SITE not in path:
                seen.add(path)
                out.write(path + "\n")
        except Exception:  # noqa: BLE001, S110 - e.g. the file closed at shutdown
            pass

    sys.addaudithook(hook)
    for path in already:
        hook("open", (path,))


def _chain() -> None:
    """Import the next ``sitecustomize`` on the path, as if this one were not there."""
    here = os.path.dirname(os.path.abspath(__file__))
    module = sys.modules.pop("sitecustomize", None)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        if module is not None:
            sys.modules["sitecustomize"] = module


if __name__ == "sitecustomize":  # not when mltrack._process loads it by path
    _install()
    _chain()
