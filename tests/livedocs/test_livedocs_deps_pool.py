"""Dependency tracking of notebooks, the warm worker pool, and build telemetry.

Real worker processes, real Jupyter kernels and the session's real MLflow server; each
project is a few files in a temp directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mltrack.livedocs.engine import LiveDocsEngine
from mltrack.livedocs.model import EngineConfig
from mltrack.livedocs.reference import build_report_page
from mltrack.livedocs.runner import WORKER, BuildReport, _Pool
from mltrack.localserver import ThrowawayServer
from tests._helpers import notebook_json

pytestmark = pytest.mark.slow


class Project:
    """A temp project driven through the engine against the session's MLflow server."""

    def __init__(self, root: Path, server: ThrowawayServer, **config: object):
        self.root = root
        self.server = server
        self.engine = LiveDocsEngine(
            EngineConfig(root=root, **config),  # type: ignore[arg-type]
            progress=lambda *a: None,
        )

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def build(self, page: str) -> BuildReport:
        plan = self.engine.plan({"docs/index.md": page})
        assert plan.problems == []
        return self.engine.runner.run(plan, server_url=self.server.url)


def test_notebook_reruns_when_a_module_it_imports_changes_and_only_then(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    project = Project(tmp_path, mlflow_server, jobs=1)
    project.write("notebooks/helper.py", "VALUE = 1\n")
    project.write("data/values.txt", "10\n")
    project.write("notebooks/other.py", "UNUSED = 1\n")
    project.write(
        "notebooks/uses_helper.ipynb",
        notebook_json(
            "import helper\nprint('value', helper.VALUE)",
            f"print('data', open({str(tmp_path / 'data/values.txt')!r}).read().strip())",
        ),
    )
    project.write("notebooks/plain.ipynb", notebook_json("print('plain', 6 * 7)"))
    page = "# Home\n"

    cold = project.build(page)
    assert sorted(cold.executed) == ["notebooks/plain.ipynb", "notebooks/uses_helper.ipynb"]
    uses = cold.results["notebooks/uses_helper.ipynb"]
    assert uses.ok, uses.error
    # The kernel recorded the module it imported and the repo file it read; not the
    # sibling module it never imported, nor the notebook itself (its key covers it).
    assert sorted(uses.deps) == ["data/values.txt", "notebooks/helper.py"]
    assert cold.results["notebooks/plain.ipynb"].deps == {}
    # The tracing setup ran silently: same cells, counts from 1, only the cells' output.
    executed = json.loads(Path(str(uses.notebook)).read_text())
    assert [c["execution_count"] for c in executed["cells"]] == [1, 2]
    outputs = [[o.get("text") for o in c["outputs"]] for c in executed["cells"]]
    assert outputs == [["value 1\n"], ["data 10\n"]]

    project.write("notebooks/helper.py", "VALUE = 2\n")
    edited = project.build(page)
    assert edited.executed == ["notebooks/uses_helper.ipynb"]
    rerun = json.loads(
        Path(str(edited.results["notebooks/uses_helper.ipynb"].notebook)).read_text()
    )
    assert rerun["cells"][0]["outputs"][0]["text"] == "value 2\n"

    project.write("data/values.txt", "20\n")
    assert project.build(page).executed == ["notebooks/uses_helper.ipynb"]

    project.write("notebooks/other.py", "UNUSED = 2\n")
    unrelated = project.build("# An edited page\n\nNew text.\n")
    assert unrelated.executed == [] and unrelated.server_started is False


PROBE = """\
import os

import mlflow

parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
print("forked by pool:", b"--pool" in parent)
print("pid", os.getpid(), "pool", os.getppid())
"""


def test_warm_pool_runs_mlflow_items_forked_with_clean_state_and_own_deps(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    project = Project(tmp_path, mlflow_server, jobs=1)  # one at a time: A ends before B
    project.write("examples/_shared.py", "VALUE = 'shared'\n")
    project.write(
        "examples/a_mutates.py",
        PROBE + "import _shared\nmlflow.livedocs_probe = 'set by A'\nprint(_shared.VALUE)\n",
    )
    project.write(
        "examples/b_reads.py",
        PROBE + "print('probe', getattr(mlflow, 'livedocs_probe', None))\n",
    )
    page = "".join(f"```livedocs\nfile: examples/{n}.py\n```\n\n" for n in ("a_mutates", "b_reads"))

    report = project.build(page)
    a, b = report.results["examples/a_mutates.py"], report.results["examples/b_reads.py"]
    assert a.ok and b.ok, (a.error, b.error)
    assert report.executed == ["examples/a_mutates.py", "examples/b_reads.py"]
    assert "forked by pool: True" in a.output and "forked by pool: True" in b.output
    pid_a, pool_a = re.search(r"pid (\d+) pool (\d+)", a.output).groups()  # type: ignore[union-attr]
    pid_b, pool_b = re.search(r"pid (\d+) pool (\d+)", b.output).groups()  # type: ignore[union-attr]
    assert pool_a == pool_b and pid_a != pid_b  # two children of the same pool process
    assert "probe None" in b.output  # A's change to the pre-imported module stayed in A
    assert sorted(a.deps) == ["examples/_shared.py"] and b.deps == {}

    project.write("examples/_shared.py", "VALUE = 'changed'\n")
    again = project.build(page)
    assert again.executed == ["examples/a_mutates.py"]
    assert "changed" in again.results["examples/a_mutates.py"].output


def test_preimported_modules_are_dependencies_only_of_items_that_import_them(
    tmp_path: Path,
) -> None:
    """The pool pre-imports for all items; each item's deps match a fresh process's."""
    root = tmp_path / "proj"
    (root / "localpkg").mkdir(parents=True)
    (root / "localpkg/__init__.py").write_text("from localpkg import sub\n")
    (root / "localpkg/sub.py").write_text("X = 1\n")
    (root / "examples").mkdir()
    (root / "examples/plain.py").write_text("import json\nprint(json.dumps('plain'))\n")
    (root / "examples/uses.py").write_text("from localpkg.sub import X\nprint('x', X)\n")
    env = {**os.environ, "PYTHONPATH": str(root)}

    def spec_for(name: str, mode: str) -> tuple[Path, Path, Path]:
        work = tmp_path / f"{mode}-{name}"
        (work / "cwd").mkdir(parents=True)
        (work / "out").mkdir()
        spec = {
            "kind": "script",
            "path": str(root / "examples" / f"{name}.py"),
            "out_dir": str(work / "out"),
            "timeout_s": 60,
            "root": str(root),
            "preimport": [],
        }
        (work / "spec.json").write_text(json.dumps(spec))
        return work / "spec.json", work / "cwd", work / "out"

    def deps(out: Path) -> list[str]:
        result = json.loads((out / "result.json").read_text())
        assert result["ok"], result
        return list(result["deps"])

    pool = _Pool(["localpkg"], env)
    try:
        pooled = {}
        for name in ("plain", "uses"):
            spec, cwd, out = spec_for(name, "pool")
            child = pool.spawn(spec, cwd, env, out / "log")
            assert child.wait(timeout=60) == 0, (out / "log").read_text()
            pooled[name] = deps(out)
    finally:
        pool.stop()
    assert pooled["plain"] == []  # localpkg was in the pool's memory, but not imported
    assert pooled["uses"] == ["localpkg/__init__.py", "localpkg/sub.py"]
    for name in ("plain", "uses"):
        spec, cwd, out = spec_for(name, "fresh")
        subprocess.run([sys.executable, WORKER, str(spec)], cwd=cwd, env=env, check=True)
        assert deps(out) == pooled[name]


def test_telemetry_of_a_real_build_and_the_report_page(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    project = Project(tmp_path, mlflow_server, jobs=1)
    sleeps = {f"sleep{i}": 0.6 * i for i in range(6)}
    for name, seconds in sleeps.items():
        project.write(f"examples/{name}.py", f"import time\ntime.sleep({seconds})\n")
    # ~300 MiB written (not just reserved), so it is resident.
    project.write("examples/big.py", "block = b'x' * (300 * 2**20)\nprint(len(block))\n")
    # Half a second of CPU in this process, and as much in a child it waits for.
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
    project.write(
        "examples/spin.py",
        f"import subprocess, sys\n{spin}subprocess.run([sys.executable, '-c', {spin!r}])\n",
    )
    names = [*sleeps, "big", "spin"]
    page = "".join(f"```livedocs\nfile: examples/{n}.py\n```\n\n" for n in names)

    project.build(page)
    cache = tmp_path / ".cache/livedocs"
    cold = json.loads((cache / "last-build.json").read_text())
    assert cold["executed"] == 8 and cold["cached"] == 0 and cold["failed"] == 0
    items = {i["id"]: i for i in cold["items"]}
    assert all(i["status"] == "ok" and i["cached"] is False for i in items.values())
    for name, seconds in sleeps.items():
        assert seconds <= items[f"examples/{name}.py"]["duration_s"] < seconds + 30
    rss = {k: v["peak_rss_mb"] for k, v in items.items()}
    assert rss["examples/big.py"] >= 300
    assert all(5 < rss[f"examples/{n}.py"] < 200 for n in sleeps), rss
    # CPU time is the item's own work (and its child's), not its wall time.
    cpu = {k: v["cpu_s"] for k, v in items.items()}
    assert cpu["examples/spin.py"] >= 1.0, cpu
    assert cpu["examples/sleep5.py"] < items["examples/sleep5.py"]["duration_s"] / 2, cpu
    # The report's slowest are the items that took longest, longest first. Which items
    # those are is the machine's business (measured under load: the first item forked,
    # sleep0, took longer than sleep1 and sleep2); only the 3 s sleep is surely among them.
    slowest = [s["id"] for s in cold["slowest"]]
    assert slowest == sorted(items, key=lambda i: items[i]["duration_s"], reverse=True)[:5]
    assert "examples/sleep5.py" in slowest

    project.write("examples/sleep0.py", "print('now the only one that runs')\n")
    project.build(page)
    warm = json.loads((cache / "last-build.json").read_text())
    assert warm["executed"] == 1 and warm["cached"] == 7
    cached = {i["id"]: i["cached"] for i in warm["items"]}
    assert cached.pop("examples/sleep0.py") is False and all(cached.values())
    # cached items keep the time of the build that ran them
    assert [s["id"] for s in warm["slowest"]] == slowest
    assert all(s["cached"] for s in warm["slowest"])
    assert list(cache.glob("*.tmp")) == []  # the atomic write left no partial file

    page_md = build_report_page(warm)
    assert "- items: **8** (1 executed, 7 from the cache, 0 failed)" in page_md
    section = page_md.split("## Slowest items")[1].split("## All items")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == slowest
    big = items["examples/big.py"]
    assert (
        f"| `examples/big.py` | ok | {big['duration_s']:.2f} | {big['cpu_s']:.2f} | "
        f"{big['peak_rss_mb']:.0f} | hit |" in page_md
    )
    rerun = next(line for line in page_md.splitlines() if line.startswith("| `examples/sleep0.py`"))
    assert rerun.startswith("| `examples/sleep0.py` | ok |") and rerun.endswith("| miss |")


def test_kernel_setup_failure_fails_the_notebook_with_the_reason(tmp_path: Path) -> None:
    """When the tracer cannot be installed in the kernel, the notebook fails (its result
    could not be cached correctly) with a one-paragraph reason, not a worker traceback."""
    import psutil

    from mltrack.livedocs import worker

    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(notebook_json("print('never runs')"))
    out_dir = tmp_path / "out"
    (out_dir / "notebook-deps.json").mkdir(parents=True)  # the tracer cannot write it
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    spec = {"path": str(notebook), "kernel_name": "python3", "timeout_s": 60, "root": str(tmp_path)}
    result = worker._run_notebook(spec, out_dir)

    assert result["ok"] is False
    error = result["error"]
    assert error["type"] == "KernelSetupError" and error["cell"] is None
    assert "could not trace the notebook kernel (IsADirectoryError" in error["message"]
    assert "'python3'" in error["message"] and "make install" in error["message"]
    assert "deps" not in result
    # No cell ran, and nbclient shut the kernel down.
    executed = json.loads((out_dir / "executed.ipynb").read_text())
    assert executed["cells"][0]["outputs"] == []
    leftover = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert leftover == [], [(p.pid, p.cmdline()) for p in leftover]


_SDK_PROBE = """
import sys
preloaded = [m for m in ("openai", "anthropic", "mlflow.openai") if m in sys.modules]
from anthropic.resources.messages import Messages
from openai.resources.chat.completions import Completions

def gated():
    return [getattr(c.__dict__["create"], "__mltrack_gate__", False) for c in (Completions, Messages)]

before = gated()
from mltrack.config import load_settings
from mltrack.llm._instrument import ensure_instrumented
ensure_instrumented(load_settings())
print("preloaded", preloaded, "gated", before, gated())
"""


def test_pool_preloads_llm_sdks_without_instrumenting_them(tmp_path: Path) -> None:
    """A pool for mltrack examples holds the installed LLM SDKs imported, not patched: each
    item instruments them itself, and they are no dependency of an item."""
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("openai", "anthropic")):
        pytest.skip("the openai and anthropic SDKs are not installed")
    root = tmp_path / "proj"
    (root / "examples").mkdir(parents=True)
    (root / "examples/sdk.py").write_text(_SDK_PROBE)
    work = tmp_path / "item"
    (work / "cwd").mkdir(parents=True)
    (work / "out").mkdir()
    spec = {
        "kind": "script",
        "path": str(root / "examples/sdk.py"),
        "out_dir": str(work / "out"),
        "timeout_s": 60,
        "root": str(root),
        "preimport": [],
    }
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    def run_in_pool(modules: list[str]) -> tuple[dict[str, object], str]:
        pool = _Pool(modules, env)
        try:
            child = pool.spawn(work / "spec.json", work / "cwd", env, work / "out/log")
            assert child.wait(timeout=60) == 0, (work / "out/log").read_text()
        finally:
            pool.stop()
        return json.loads((work / "out/result.json").read_text()), (work / "out/log").read_text()

    # What pool_modules gives examples importing mltrack and both SDKs.
    result, output = run_in_pool(["mltrack", "openai", "anthropic"])
    assert result["ok"], (result, output)
    assert "preloaded ['openai', 'anthropic', 'mlflow.openai']" in output
    assert "gated [False, False] [True, True]" in output  # patched by the item, not before
    assert result["deps"] == []
    # Examples that import no SDK: the pool spends nothing on them.
    result, output = run_in_pool(["mltrack"])
    assert result["ok"], (result, output)
    assert "preloaded []" in output


def test_items_run_with_mlflow_telemetry_off(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    """Outside CI, MLflow reports usage to its own servers; a docs build makes no
    outside requests, so its examples run with MLflow's telemetry switched off."""
    project = Project(tmp_path, mlflow_server, jobs=1)
    project.write(
        "examples/telemetry.py",
        "import os\nprint('telemetry off:', os.environ.get('MLFLOW_DISABLE_TELEMETRY'))\n",
    )
    report = project.build("# Home\n\n```livedocs\nfile: examples/telemetry.py\n```\n")
    result = report.results["examples/telemetry.py"]
    assert result.ok, result.error
    assert "telemetry off: true" in result.output, result.output


def test_an_items_time_leaves_out_its_wait_for_the_server(tmp_path: Path) -> None:
    """At the start of a build workers wait for the throwaway server: the time reported
    is the item's own, so the first items of a build are not listed as the slowest."""
    import http.server
    import socket
    import threading
    import time

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    (tmp_path / "out").mkdir()
    (tmp_path / "nap.py").write_text("import time\ntime.sleep(0.5)\nprint('rested')\n")
    # Bound but not listening: the worker's health checks are refused until it listens.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    spec = {
        "kind": "script",
        "path": str(tmp_path / "nap.py"),
        "out_dir": str(tmp_path / "out"),
        "timeout_s": 60,
        "server_url": f"http://127.0.0.1:{sock.getsockname()[1]}",
        "server_wait_s": 60,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    launched = time.monotonic()
    worker = subprocess.Popen([sys.executable, WORKER, str(tmp_path / "spec.json")], cwd=tmp_path)
    server = http.server.HTTPServer(sock.getsockname(), Health, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    try:
        time.sleep(2.5)  # the server is "starting"
        server.server_activate()
        serving.start()
        assert worker.wait(timeout=60) == 0
        wall = time.monotonic() - launched
    finally:
        worker.kill()
        if serving.is_alive():
            server.shutdown()  # waits for serve_forever: only once it runs
        server.server_close()
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["ok"] and wall >= 3.0
    assert 0.5 <= result["run_s"] < 2.0, result["run_s"]


def test_temp_files_of_items_go_with_the_build(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    """MLflow never removes the folders `pyfunc.load_model` downloads into: each item's
    TMPDIR is in the build's temp dir, so what an item leaves there goes with the build,
    for scripts forked from the warm pool and for notebooks in forked kernels alike."""
    made = tmp_path / "made.txt"
    leak = (
        "import tempfile\n"
        f"with open({str(made)!r}, 'a') as f:\n"
        "    f.write(tempfile.mkdtemp() + '\\n')\n"
        "print('temp dir:', tempfile.gettempdir())\n"
    )
    project = Project(tmp_path, mlflow_server, jobs=1)
    project.write("examples/a_leaks.py", "import mlflow\n" + leak)
    project.write("examples/b_leaks.py", "import mlflow\n" + leak)
    project.write("notebooks/leaks.ipynb", notebook_json("import mlflow", leak))
    page = "".join(f"```livedocs\nfile: examples/{n}.py\n```\n\n" for n in ("a_leaks", "b_leaks"))
    report = project.build(page)  # the notebook is a page of its own
    assert sorted(report.executed) == [
        "examples/a_leaks.py",
        "examples/b_leaks.py",
        "notebooks/leaks.ipynb",
    ]
    for result in report.results.values():
        assert result.ok, result.error
    for name in ("examples/a_leaks.py", "examples/b_leaks.py"):
        output = report.results[name].output
        assert "temp dir: <tmp>/tmp/" in output, output  # the build's own, shown scrubbed
    folders = made.read_text().split()
    assert len(folders) == 3 and len(set(folders)) == 3
    assert [f for f in folders if Path(f).exists()] == []


EDITS_HELPER = """\
import helper

print("value", helper.VALUE)
# A writer saves the module while the example still runs (`mkdocs serve` is building).
with open(helper.__file__, "w") as out:
    out.write("VALUE = 2\\n")
"""


def test_an_item_whose_dependency_changed_while_it_ran_runs_again_next_build(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    project = Project(tmp_path, mlflow_server, jobs=1)
    project.write("examples/helper.py", "VALUE = 1\n")
    project.write("examples/edits.py", EDITS_HELPER)
    page = "# Home\n\n```livedocs\nfile: examples/edits.py\n```\n"

    first = project.build(page)
    assert first.executed == ["examples/edits.py"]
    assert "value 1" in first.results["examples/edits.py"].output
    # What ran is the old module: the result must not pass for the new one's.
    second = project.build(page)
    assert second.executed == ["examples/edits.py"]
    assert "value 2" in second.results["examples/edits.py"].output
    # An example that leaves its module alone is cached as before.
    project.write("examples/edits.py", "import helper\n\nprint('value', helper.VALUE)\n")
    assert project.build(page).executed == ["examples/edits.py"]
    assert project.build(page).executed == [], "nothing changed since: cached"
