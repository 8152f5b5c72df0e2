"""The process that executes one item (``python .../mltrack/livedocs/worker.py SPEC``).

It runs in its own session (process group) and temp working directory, so the parent
can kill it and everything it started at the timeout. It writes ``result.json`` into
the output directory: success, the exception type/message/line, and the figures that
were left open or written to the working directory. Only the standard library is
imported before the item runs, so the worker adds almost nothing to its start-up.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import runpy
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

if sys.path and os.path.realpath(sys.path[0]) == os.path.realpath(os.path.dirname(__file__)):
    sys.path.pop(0)  # run as a script: the engine's modules must not shadow the example's


def _load_process_toolkit() -> Any:
    """``mltrack/_process.py`` by path: importing the ``mltrack`` package costs time."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_process.py")
    spec = importlib.util.spec_from_file_location("_mltrack_livedocs_process", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: some stdlib code looks it up
    spec.loader.exec_module(module)
    return module


#: Ends this process with its owner (the build, or the pool) - see mltrack/_process.py.
_process = _load_process_toolkit()
#: Modules loaded by the worker itself (stdlib only): never dependencies of an example.
_BASELINE = frozenset(sys.modules)
#: Module name -> the pre-import that loaded it (:func:`_preimport`). The warm pool
#: pre-imports what *any* example imports; such a module is a dependency of an item only
#: when the item's own code imports something of the same pre-import.
_PRELOADED: dict[str, str] = {}

_IMAGE_SUFFIXES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def _error_from_exception(exc: BaseException, script: str) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    line = None
    for frame in frames:
        if os.path.realpath(frame.filename) == os.path.realpath(script):
            line = frame.lineno
    # Drop the worker's and runpy's own frames from what the reader sees.
    shown = [
        f for f in frames if "runpy" not in f.filename and not f.filename.endswith("worker.py")
    ]
    text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(shown))
    text += "".join(traceback.format_exception_only(type(exc), exc))
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "line": line,
        "tail": "\n".join(text.rstrip().splitlines()[-12:]),
    }


def _save_figures(out_dir: Path, cwd: Path, before: set[str]) -> list[dict[str, str]]:
    written = []
    for path in sorted(cwd.rglob("*")):
        if path.suffix.lower() in _IMAGE_SUFFIXES and str(path) not in before and path.is_file():
            written.append({"name": str(path.relative_to(cwd)), "file": str(path)})
    if not written and "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        for number in plt.get_fignums():
            target = out_dir / f"figure-{number}.png"
            plt.figure(number).savefig(target, dpi=96, bbox_inches="tight")
            written.append({"name": f"figure {number}", "file": str(target)})
    return written


def _wait_for_server(url: str, timeout: float) -> None:
    """The parent starts the server while workers import; wait until it answers."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(
                f"livedocs: tracking server {url} did not answer within {timeout:.0f} s"
            )
        time.sleep(0.05)


def _claim_experiment(url: str, name: str, attempts: int = 100) -> str:
    """Create the item's experiment up front; return its name.

    ``name`` on a fresh throwaway server; on a server other builds use too (the pytest
    plugin's, a test's) the first of ``name-2``, ``name-3``... that does not exist yet, so
    the item never sees another item's runs. The runner's ``claim_experiment`` does the
    same for commands. Only the standard library: nothing is imported before the item.
    """
    import urllib.error
    import urllib.request

    for number in range(1, attempts + 1):
        candidate = name if number == 1 else f"{name}-{number}"
        request = urllib.request.Request(
            url + "/api/2.0/mlflow/experiments/create",
            data=json.dumps({"name": candidate}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            if b"RESOURCE_ALREADY_EXISTS" in exc.read():
                continue
            return name  # the item reports what is wrong with the server itself
        except OSError:
            return name
        return candidate
    return name


def _preimport(modules: list[str]) -> None:
    import importlib
    import warnings

    for name in modules:
        before = set(sys.modules)
        # A failing import is left for the example itself to report.
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            importlib.import_module(name)
        for loaded in sys.modules.keys() - before:
            _PRELOADED.setdefault(loaded, name)


def _record_imports(used: set[str]) -> None:
    """Record every module name the item's code imports (at any depth, while it runs).

    Modules the worker pre-imported are already in ``sys.modules`` when the item starts,
    so only the import statements tell whether the item uses them.
    """
    import builtins
    import importlib

    original_import = builtins.__import__
    original_import_module = importlib.import_module

    def note(name: object) -> None:
        if isinstance(name, str):
            parts = name.split(".")
            used.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))

    def recording_import(
        name: str,
        globals: Any = None,  # noqa: A002 - the signature of builtins.__import__
        locals: Any = None,  # noqa: A002
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        module = original_import(name, globals, locals, fromlist, level)
        # With a from-list (or a relative import) the result is the named module itself.
        full = getattr(module, "__name__", name) if fromlist or level else name
        note(full)
        for attr in fromlist or ():
            if isinstance(attr, str) and attr != "*":
                used.add(f"{full}.{attr}")
        return module

    def recording_import_module(name: str, package: str | None = None) -> Any:
        module = original_import_module(name, package)
        note(getattr(module, "__name__", name))
        return module

    builtins.__import__ = recording_import
    importlib.import_module = recording_import_module


_SKIP_PARTS = {".venv", "venv", ".git", ".cache", "site", "__pycache__", "node_modules"}


def _trace_opens(opened: list[str]) -> None:
    """Record every file the example opens (an audit hook; it cannot be removed)."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and args and isinstance(args[0], str | os.PathLike):
            opened.append(os.fspath(args[0]))

    sys.addaudithook(hook)


_REALPATHS: dict[str, str] = {}


def _realpath(path: str) -> str:
    # Memoised: in a notebook kernel the dependencies are recomputed after cells.
    real = _REALPATHS.get(path)
    if real is None:
        real = _REALPATHS[path] = os.path.realpath(path)
    return real


def _dependencies(
    root: str, script: str, opened: list[str], cwd: str, used: set[str] | None = None
) -> list[str]:
    """Project files the item used: imported local modules and files it read.

    Args:
        root: project root; only files under it count.
        script: the item's own file (its content is in the cache key already).
        opened: paths of files the item opened (audit hook).
        cwd: directory relative opened paths are resolved against.
        used: module names the item's code imported (:func:`_record_imports`): a
            pre-imported module counts only when its pre-import was used. ``None``
            counts every module loaded after the worker's own.
    """
    groups = {_PRELOADED[name] for name in used if name in _PRELOADED} if used is not None else None
    paths = {
        getattr(module, "__file__", None)
        for name, module in list(sys.modules.items())
        if name not in _BASELINE
        and (groups is None or name not in _PRELOADED or _PRELOADED[name] in groups)
    }
    paths.update(os.path.join(cwd, p) for p in opened)
    return _project_files(root, paths, exclude=script)


def _project_files(root: str, paths: Iterable[object], exclude: str | None = None) -> list[str]:
    """The files among ``paths`` that lie in the project (relative to ``root``), sorted.

    Caches, virtual environments, the built site and ``exclude`` (the item's own file) are
    left out.
    """
    root_real = _realpath(root)
    exclude_real = _realpath(exclude) if exclude else None
    found = set()
    for path in paths:
        if not isinstance(path, str) or not path:
            continue
        real = _realpath(path)
        if real == exclude_real or not real.startswith(root_real + os.sep):
            continue
        rel = os.path.relpath(real, root_real)
        if _SKIP_PARTS.intersection(rel.split(os.sep)) or not os.path.isfile(real):
            continue
        found.add(rel)
    return sorted(found)


_CHILD_TRACE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "childtrace")


def _trace_children(root: str, out_dir: Path) -> Path:
    """Make every Python process the item starts record the project files it opens.

    ``childtrace/sitecustomize.py`` goes first on ``PYTHONPATH``; the processes inherit it
    (and where to write) through the environment. Returns the folder they write to.
    """
    target = out_dir / "child-opens"
    target.mkdir(exist_ok=True)
    inherited = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [_CHILD_TRACE, inherited] if inherited else [_CHILD_TRACE]
    )
    os.environ["MLTRACK_LIVEDOCS_CHILD_OPENS"] = str(target)
    os.environ["MLTRACK_LIVEDOCS_ROOT"] = root
    return target


def _child_opens(target: Path) -> list[str]:
    """What the item's child processes opened, compiled modules mapped to their source."""
    found = []
    for record in sorted(target.glob("*.txt")):
        for path in record.read_text(errors="replace").splitlines():
            folder, name = os.path.split(path)
            if os.path.basename(folder) == "__pycache__" and name.endswith(".pyc"):
                path = os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")
            found.append(path)
    return found


def _run_script(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    script = spec["path"]
    opened: list[str] = []
    used: set[str] = set()
    if spec.get("root"):
        _trace_opens(opened)
        _record_imports(used)
        children = _trace_children(spec["root"], out_dir)
    cwd = Path.cwd()
    before = {str(p) for p in cwd.rglob("*")}
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(script))
    result: dict[str, Any] = {"ok": True, "error": None}
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            result = {"ok": False, "error": _error_from_exception(exc, script)}
            result["error"]["message"] = f"exit code {exc.code}"
    except BaseException as exc:  # noqa: BLE001 - everything the example raises is reported
        result = {"ok": False, "error": _error_from_exception(exc, script)}
        print(result["error"]["tail"], file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    result["figures"] = _save_figures(out_dir, cwd, before)
    if spec.get("root"):
        opened += _child_opens(children)
        result["deps"] = _dependencies(spec["root"], script, opened, str(cwd), used)
    return result


# -- notebooks ---------------------------------------------------------------------------
#
# A notebook runs in a Jupyter kernel, a process of its own. Before its first cell the
# worker loads this very file into the kernel (a silent execution: no cell, no output, no
# execution count) and calls `trace_kernel`, which installs the same open/import tracing
# scripts get and writes the dependencies after every cell. Same mechanism, same filter.

_KERNEL_SETUP = """\
def __livedocs_setup():
    import importlib.util
    spec = importlib.util.spec_from_file_location("_livedocs_kernel_tracer", {worker!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.trace_kernel({root!r}, {notebook!r}, {target!r})
__livedocs_setup()
del __livedocs_setup
"""


def trace_kernel(root: str, notebook: str, target: str, watch_owner: bool = True) -> None:
    """Inside a notebook's kernel: record its project dependencies into ``target``.

    The notebook's folder goes first on ``sys.path`` (as when Jupyter runs it there), so
    it imports the modules next to it like a script does. After every cell the
    dependencies found so far are written to ``target`` (JSON list of relative paths).

    Args:
        root: project root.
        notebook: the notebook's path.
        target: where the dependencies go.
        watch_owner: end with the worker named in the environment (a plain kernel; a
            warm kernel watches its worker already).
    """
    from IPython import get_ipython

    if watch_owner:
        _process.exit_with_parent_from_env()  # the worker sets it: die with the worker
    sys.path.insert(0, os.path.dirname(notebook))
    opened: list[str] = []
    used: set[str] = set()
    _trace_opens(opened)
    _record_imports(used)
    seen: list[tuple[int, int]] = [(-1, -1)]

    def dump(*_: Any) -> None:
        if (len(sys.modules), len(opened)) == seen[0]:
            return  # nothing imported or opened since the last cell
        deps = _dependencies(root, notebook, opened, os.getcwd(), used)
        partial = f"{target}.tmp"
        with open(partial, "w") as fh:
            json.dump(deps, fh)
        os.replace(partial, target)
        seen[0] = (len(sys.modules), len(opened))  # after our own write's open

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("livedocs: trace_kernel runs inside an IPython kernel only")
    shell.events.register("post_run_cell", dump)
    dump()


class KernelSetupError(RuntimeError):
    """The dependency tracer could not be installed in a notebook's kernel."""


async def _silent(client: Any, code: str) -> None:
    """Run ``code`` in the client's kernel without a cell: nothing shows in the notebook."""
    msg_id = client.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
    reply = await client.async_wait_for_reply(msg_id)
    content = (reply or {}).get("content", {})
    if content.get("status") != "ok":
        detail = f"{content.get('ename', 'no reply')}: {content.get('evalue', '')}"
        raise KernelSetupError(
            f"livedocs could not trace the notebook kernel ({detail}); the kernel "
            f"{client.kernel_name!r} must run this project's Python (`make install` "
            "registers it)"
        )


#: This worker's notebook clients: their kernels are stopped on every exit path.
_NOTEBOOK_CLIENTS: list[Any] = []


def _stop_kernels() -> None:
    """Kill this worker's notebook kernels (with their process groups) and remove their
    connection files, each of which holds its kernel's HMAC key.

    Also called from the exit-with-parent watchdog when the build died.
    """
    for client in list(_NOTEBOOK_CLIENTS):
        km = getattr(client, "km", None)
        if km is None:
            continue
        process = getattr(getattr(km, "provisioner", None), "process", None)
        with contextlib.suppress(Exception):
            if process is not None and process.poll() is None:
                _process.kill_processes([process.pid], grace_s=0.5)
        with contextlib.suppress(Exception):
            km.cleanup_connection_file()
        with contextlib.suppress(Exception):
            if km.connection_file:
                os.unlink(km.connection_file)


# -- warm kernels ------------------------------------------------------------------------
#
# In the warm pool a notebook's worker is a fork of a process that already imported
# mlflow, scikit-learn, pandas and ipykernel. Its kernel is a fork of the worker, made
# before the worker starts any Jupyter machinery (no event loop, no zmq context yet),
# so the notebook's imports cost nothing. Each notebook still gets a fresh kernel process
# (clean state) with its worker's cwd and environment, in its worker's process group (a
# timeout kills both), and it dies with its worker. nbclient drives it as usual: a
# kernel manager adopts the forked process instead of launching one.


def _warm_kernel_args(spec: dict[str, Any], nb: Any) -> list[str] | None:
    """The kernel's extra command-line arguments if it can be forked from this process.

    ``None`` (start a plain kernel) unless the pool asked for warm kernels and imported
    ipykernel, the notebook names no other kernel than the configured one, and that
    kernel is ``ipykernel_launcher`` on this very interpreter with no extra environment.
    """
    if not spec.get("warm_kernel") or "ipykernel.kernelapp" not in sys.modules:
        return None
    named = (nb.metadata.get("kernelspec") or {}).get("name")
    if named and named != spec["kernel_name"]:
        return None
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        kernelspec = KernelSpecManager().get_kernel_spec(spec["kernel_name"])
    except NoSuchKernel:
        return None
    argv = list(kernelspec.argv)
    if not argv or kernelspec.env or kernelspec.language.lower() != "python":
        return None
    exe = sys.executable if argv[0] in {"python", "python3"} else argv[0]
    if os.path.realpath(exe) != os.path.realpath(sys.executable):
        return None
    rest = [a for a in argv[1:] if not a.startswith("-X")]  # interpreter options
    if rest[:2] != ["-m", "ipykernel_launcher"]:
        return None
    extra = rest[2:]
    if "-f" in extra:
        at = extra.index("-f")
        del extra[at : at + 2]
    if any("{" in a for a in extra):
        return None  # a placeholder only the launcher fills in
    return extra


class _ForkedKernel:
    """A kernel forked by this worker; quacks like the ``Popen`` a provisioner holds."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -signal.SIGKILL  # reaped elsewhere
                return self.returncode
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import subprocess
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _fork_kernel(connection_file: str, args: list[str], trace: tuple[str, str, str] | None) -> int:
    """Fork this worker into an IPython kernel serving ``connection_file``; its pid.

    Args:
        connection_file: written already (ports and key).
        args: extra kernel arguments (from the kernel spec and nbclient's).
        trace: ``(root, notebook, target)`` for :func:`trace_kernel`, or ``None``.
    """
    worker = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        faulthandler.unregister(signal.SIGUSR1)
        wake = getattr(_process, "_PDEATH_SIGNAL", None)
        if wake is not None:
            signal.signal(wake, signal.SIG_DFL)  # the worker's; ours is set below
        os.environ.pop(_process.OWNER_ENV, None)  # nothing the notebook starts takes it
        os.environ["JPY_PARENT_PID"] = str(worker)  # as jupyter_client sets it for a kernel
        _process.exit_with_parent(worker)  # even a SIGKILLed worker takes its kernel along
        _NOTEBOOK_CLIENTS.clear()
        sys.argv = ["ipykernel_launcher", "-f", connection_file]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        # The class read JPY_PARENT_PID when the pool imported it: pass the worker's pid.
        # A kernel with a parent prints no "connect another client" banner into the log.
        app.initialize(["-f", connection_file, f"--IPKernelApp.parent_handle={worker}", *args])
        if "matplotlib" in sys.modules and app.shell is not None:
            # Imported by the pool with its Agg backend: set up the inline backend the
            # way a fresh kernel's first `import matplotlib` does (figures shown as PNG).
            from IPython.core.pylabtools import activate_matplotlib
            from matplotlib_inline.backend_inline import configure_inline_support

            backend = os.environ["MPLBACKEND"]  # set by ipykernel: its inline backend
            activate_matplotlib(backend)
            configure_inline_support(app.shell, backend)
        if trace is not None:
            trace_kernel(*trace, watch_owner=False)
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported through the item's log
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _warm_kernel_manager(connection_file: str, kernel_name: str, pid: int) -> Any:
    """A kernel manager for nbclient that adopts the forked kernel ``pid``."""
    from jupyter_client.manager import AsyncKernelManager

    class WarmKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            provisioner = self.provisioner
            assert provisioner is not None
            provisioner.process = _ForkedKernel(pid)  # type: ignore[attr-defined]
            provisioner.pid = pid  # type: ignore[attr-defined]
            # Not the worker's group: a signal to the kernel must not reach the worker.
            provisioner.pgid = None  # type: ignore[attr-defined]
            provisioner.cwd = kw.get("cwd", os.getcwd())  # type: ignore[attr-defined]
            self._reconcile_connection_info(provisioner.connection_info)

    km = WarmKernelManager(kernel_name=kernel_name, connection_file=connection_file)
    km.cache_ports = False
    km.load_connection_file(connection_file)
    km._connection_file_written = True  # the kernel has read it already: keep it as is
    return km


def _run_notebook(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    from traitlets.config import Config

    nb = nbformat.read(spec["path"], as_version=4)
    # The kernel's connection file (its HMAC key) goes in the item's dir inside the
    # build's temp dir, not in $TMPDIR: if even the cleanup below cannot run (SIGKILL),
    # it is removed with that dir (by the build's sentinel, or the next build).
    runtime = out_dir.parent / "jupyter-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    connection_file = runtime / f"kernel-{os.getpid()}.json"
    warm_args = _warm_kernel_args(spec, nb)
    # The kernel ends with this worker (trace_kernel reads it; it starts no other process).
    os.environ.update(_process.owner_env())
    deps_file = out_dir / "notebook-deps.json"
    if spec.get("root"):
        children = _trace_children(spec["root"], out_dir)  # the kernel is one of them
    km = None
    if warm_args is not None:
        from jupyter_client.connect import write_connection_file

        # Ports and key first: the forked kernel reads them while nbclient gets ready.
        write_connection_file(str(connection_file), ip="127.0.0.1", transport="tcp")
        trace = (spec["root"], spec["path"], str(deps_file)) if spec.get("root") else None
        # nbclient's own argument (it would pass it to a launched kernel): no history file.
        args = [*warm_args, "--HistoryManager.hist_file=:memory:"]
        pid = _fork_kernel(str(connection_file), args, trace)
        km = _warm_kernel_manager(str(connection_file), spec["kernel_name"], pid)
    client = NotebookClient(
        nb,
        km=km,
        kernel_name=spec["kernel_name"],
        timeout=int(spec["timeout_s"]),
        resources={"metadata": {"path": str(Path.cwd())}},
        config=Config({"KernelManager": {"connection_file": str(connection_file)}}),
    )
    _NOTEBOOK_CLIENTS.append(client)
    if spec.get("root") and km is None:
        setup = _KERNEL_SETUP.format(
            worker=os.path.abspath(__file__),
            root=spec["root"],
            notebook=spec["path"],
            target=str(deps_file),
        )

        async def start_tracing(**_: Any) -> None:
            try:
                await _silent(client, setup)
            except KernelSetupError:
                import inspect

                # nbclient shuts a kernel down only once this hook has returned: do it here.
                with contextlib.suppress(Exception):
                    if client.kc is not None:
                        client.kc.stop_channels()
                    if client.km is not None:
                        stopped = client.km.shutdown_kernel(now=True)
                        if inspect.isawaitable(stopped):
                            await stopped
                raise

        # Runs once the kernel is ready, before the first cell.
        client.on_notebook_start = start_tracing
    running: list[int | None] = [None]  # the cell being executed, for a dead kernel

    def cell_starts(cell_index: int, **_: Any) -> None:
        running[0] = cell_index

    client.on_cell_execute = cell_starts
    result: dict[str, Any] = {"ok": True, "error": None, "figures": []}
    try:
        client.execute()
    except KernelSetupError as exc:
        # Before the first cell: without its dependencies the result could not be cached
        # correctly, so the notebook fails, with the reason instead of a worker traceback.
        message = str(exc)
        result = {
            "ok": False,
            "figures": [],
            "error": {
                "type": "KernelSetupError",
                "message": message,
                "line": None,
                "cell": None,
                "tail": message,
                "source": None,
            },
        }
    except DeadKernelError:
        # A crash, os._exit() or the OOM killer: only this notebook fails, at its cell.
        cell = None if running[0] is None else running[0] + 1
        where = f" while running cell {cell}" if cell else ""
        message = f"the notebook's kernel died{where} (a crash, os._exit() or out of memory)"
        result = {
            "ok": False,
            "figures": [],
            "error": {
                "type": "DeadKernelError",
                "message": message,
                "line": None,
                "cell": cell,
                "tail": message,
                "source": None,
            },
        }
    except CellExecutionError as exc:
        cell_index = next(
            (
                i
                for i, cell in enumerate(nb.cells)
                if any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            ),
            None,
        )
        tail = "\n".join(str(exc).strip().splitlines()[-12:])
        line = _notebook_error_line(nb, cell_index)
        source = None
        if cell_index is not None and line is not None:
            cell_lines = str(nb.cells[cell_index].source).splitlines()
            source = cell_lines[line - 1] if 0 < line <= len(cell_lines) else None
        result = {
            "ok": False,
            "figures": [],
            "error": {
                "type": exc.ename,
                "message": exc.evalue,
                "line": line,
                "cell": None if cell_index is None else cell_index + 1,
                "tail": tail,
                "source": source,
            },
        }
    finally:
        # Every exit path (Ctrl-C, SIGTERM, a failing cell): the kernel, and its
        # connection file holding the kernel's HMAC key, are gone.
        _stop_kernels()
    # Cells tagged `livedocs-checks` prove what the notebook shows: run, never published.
    nb.cells = [
        c for c in nb.cells if "livedocs-checks" not in c.get("metadata", {}).get("tags", [])
    ]
    nbformat.write(nb, out_dir / "executed.ipynb")
    if spec.get("root"):
        # Written after each cell; missing only if tracing never started (then the
        # notebook failed above, and failures are not cached).
        with contextlib.suppress(OSError, ValueError):
            deps = json.loads(deps_file.read_text())
            opened = _child_opens(children)
            children_deps = _project_files(spec["root"], opened, exclude=spec["path"])
            result["deps"] = sorted({*deps, *children_deps})
    return result


def _notebook_error_line(nb: Any, cell_index: int | None) -> int | None:
    import re

    if cell_index is None:
        return None
    for output in nb.cells[cell_index].get("outputs", []):
        if output.get("output_type") != "error":
            continue
        lines = []
        for frame in output.get("traceback", []):
            plain = re.sub(r"\x1b\[[0-9;]*m", "", frame)
            lines += [int(m) for m in re.findall(r"^\s*(?:-+>|----> )\s*(\d+)", plain, re.M)]
            lines += [int(m) for m in re.findall(r"Cell In\[\d+\], line (\d+)", plain)]
        if lines:
            return lines[-1] if len(lines) == 1 else lines[0]
    return None


def _peak_rss_mb(children: bool) -> float | None:
    """Peak resident memory of this process, with ``children`` of its reaped children too
    (a notebook's kernel), in MiB. The parent samples it as well, but misses short items.

    Our own peak is ``VmHWM``: ``ru_maxrss`` would carry the peak of the process that
    spawned us across ``exec``.
    """
    import resource

    own = None
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 1024
    if not children:
        return own
    kernel = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return max(own or 0.0, kernel) or None


def _terminate(signum: int, frame: Any) -> None:
    # Raising unwinds nbclient's context managers, which shut its kernel down.
    raise SystemExit(128 + signum)


def run_spec(spec: dict[str, Any]) -> int:
    """Execute one item described by ``spec``; write ``result.json``; return the exit code."""
    out_dir = Path(spec["out_dir"])
    signal.signal(signal.SIGTERM, _terminate)
    # At the timeout the parent sends SIGUSR1 first: we print where every thread is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    _preimport(spec.get("preimport", []))
    if spec.get("server_url"):
        _wait_for_server(spec["server_url"], spec.get("server_wait_s", 90.0))
        if spec.get("experiment"):
            name = _claim_experiment(spec["server_url"], spec["experiment"])
            # The item, and every process it starts, logs to the experiment claimed.
            os.environ["MLFLOW_EXPERIMENT_NAME"] = os.environ["MLTRACK_EXPERIMENT"] = name
            (out_dir / "experiment.txt").write_text(name)
    (out_dir / "started").touch()  # the parent starts the item's timeout clock now
    if spec["kind"] == "notebook":
        result = _run_notebook(spec, out_dir)
    else:
        result = _run_script(spec, out_dir)
    result["peak_rss_mb"] = _peak_rss_mb(children=spec["kind"] == "notebook")
    (out_dir / "result.json").write_text(json.dumps(result))
    return 0 if result["ok"] else 1


# -- warm pool ---------------------------------------------------------------------------
#
# `python .../worker.py --pool MODULES` imports the heavy modules once, then
# forks one child per request read from stdin. Each child starts its own session, takes
# the item's environment, working directory and log file, and runs it exactly like a
# fresh worker would, so 20 small examples cost one `import mlflow` instead of 20.
# The pool process never starts a thread (fork-safety); it polls stdin and reaps children.


def _child(request: dict[str, Any], parent: int) -> None:
    os.setsid()
    # The pool forked us from its only thread: its death (even SIGKILL) ends our group.
    _process.exit_with_parent(parent)
    log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.pop(_process.OWNER_ENV, None)  # for fresh workers; we are tied to the pool
    code = 1
    try:
        code = run_spec(json.loads(Path(request["spec"]).read_text()))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported through the log
        traceback.print_exc()
    finally:
        import atexit

        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()  # MLflow ends dangling runs and flushes here
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reply(message: dict[str, Any]) -> None:
    sys.__stdout__.write(json.dumps(message) + "\n")  # type: ignore[union-attr]
    sys.__stdout__.flush()  # type: ignore[union-attr]


def pool(modules: list[str]) -> None:
    """Serve fork requests (JSON lines on stdin) until stdin closes or the owner dies.

    Then the children still running are killed with their process groups: the owner
    (the build) waits for its items itself, so nobody is left to want their results.
    """
    import select

    owner_text = os.environ.pop(_process.OWNER_ENV, "")
    owner = int(owner_text) if owner_text.isdigit() else os.getppid()
    stopping: list[int] = []
    # SIGTERM (the build's stop, or the parent-death signal) ends the loop, not the
    # process: the children must be killed first. No thread here: the pool forks.
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    _process.set_parent_death_signal(owner, signal.SIGTERM)
    _preimport(modules)
    _reply({"ready": True})
    children: set[int] = set()
    buffer = b""
    stdin = sys.stdin.buffer.fileno()
    me = os.getpid()
    while not stopping and os.getppid() == owner:
        try:
            readable, _, _ = select.select([stdin], [], [], 0.05)
        except InterruptedError:
            continue
        if readable:
            chunk = os.read(stdin, 65536)
            if not chunk:
                break  # the build closed the pipe, or died
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, me)
                children.add(pid)
                _reply({"id": request["id"], "pid": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                _reply({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
    _process.kill_processes(children, grace_s=0.5)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def main() -> None:
    if sys.argv[1] == "--pool":
        pool([m for m in sys.argv[2].split(",") if m])
        return
    # Started by the build from one of its threads: end with the build process itself.
    _process.exit_with_parent_from_env(on_exit=_stop_kernels)
    code = run_spec(json.loads(Path(sys.argv[1]).read_text()))
    # A normal exit runs the example's atexit hooks (MLflow ends dangling runs there).
    sys.exit(code)


if __name__ == "__main__":
    main()
