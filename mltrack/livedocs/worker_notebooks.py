"""Notebooks in the worker: run one with nbclient, in a plain or a warm (forked) kernel.

A notebook runs in a Jupyter kernel, a process of its own. Before its first cell the
worker loads ``worker_tracing.py`` into the kernel (a silent execution: no cell, no
output, no execution count) and calls its ``trace_kernel``, which installs the same
open/import tracing scripts get and writes the dependencies after every cell. Same
mechanism, same filter.

Loaded by path by ``worker.py``, which hands in the modules this one uses (the
``mltrack`` package is not imported before an item runs).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

__all__ = ["KernelSetupError", "run_notebook", "stop_kernels"]

#: ``mltrack/_process.py`` and ``worker_tracing.py``, set by ``worker.py`` once this
#: module has loaded (both are loaded by path, so they cannot be imported here).
_process: Any = None
_tracing: Any = None

_KERNEL_SETUP = """\
def __livedocs_setup():
    import importlib.util, sys
    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    # End with the worker (it named itself in the environment), then trace.
    load("_livedocs_kernel_process", {process!r}).exit_with_parent_from_env()
    tracer = load("_livedocs_kernel_tracer", {tracer!r})
    tracer.trace_kernel({root!r}, {notebook!r}, {target!r})
__livedocs_setup()
del __livedocs_setup
"""


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


def stop_kernels() -> None:
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
            if process is not None:
                # Reaped, the kernel's CPU time counts in the item's (`os.times()`).
                process.wait(timeout=2)
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


def _fork_kernel(connection_file: str, args: list[str], trace: tuple[str, str, str] | None) -> int:
    """Fork this worker into an IPython kernel serving ``connection_file``; its pid.

    Args:
        connection_file: written already (ports and key).
        args: extra kernel arguments (from the kernel spec and nbclient's).
        trace: ``(root, notebook, target)`` for :func:`trace_kernel`, or ``None``.
    """
    worker = os.getpid()
    pid = _process.fork_child()
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
            _tracing.trace_kernel(*trace)
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
            # Quacks like the Popen a provisioner holds (poll, wait, signals, no pipes).
            provisioner.process = _process.ForkedChild(pid)  # type: ignore[attr-defined]
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


#: The kernel application's own log goes to the item's output: keep only its errors.
#: Its one warning is about the transport between the kernel and this worker (TCP on
#: 127.0.0.1, HMAC-signed), build machinery no reader should see first on the page.
#: Cells' own output and warnings come over the kernel's channels, untouched.
_KERNEL_APP_ARGS = ("--IPKernelApp.log_level=ERROR",)


def run_notebook(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
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
        children = _tracing.trace_children(spec["root"], out_dir)  # the kernel is one of them
    km = None
    if warm_args is not None:
        from jupyter_client.connect import write_connection_file

        # Ports and key first: the forked kernel reads them while nbclient gets ready.
        write_connection_file(str(connection_file), ip="127.0.0.1", transport="tcp")
        trace = (spec["root"], spec["path"], str(deps_file)) if spec.get("root") else None
        # nbclient's own argument (it would pass it to a launched kernel): no history file.
        args = [*warm_args, "--HistoryManager.hist_file=:memory:", *_KERNEL_APP_ARGS]
        pid = _fork_kernel(str(connection_file), args, trace)
        km = _warm_kernel_manager(str(connection_file), spec["kernel_name"], pid)
    client = NotebookClient(
        nb,
        km=km,
        kernel_name=spec["kernel_name"],
        extra_arguments=list(_KERNEL_APP_ARGS),
        timeout=int(spec["timeout_s"]),
        resources={"metadata": {"path": str(Path.cwd())}},
        config=Config({"KernelManager": {"connection_file": str(connection_file)}}),
    )
    _NOTEBOOK_CLIENTS.append(client)
    if spec.get("root") and km is None:
        setup = _KERNEL_SETUP.format(
            process=_process.__file__,
            tracer=_tracing.__file__,
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
        stop_kernels()
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
            opened = _tracing.child_opens(children)
            children_deps = _tracing.project_files(spec["root"], opened, exclude=spec["path"])
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
