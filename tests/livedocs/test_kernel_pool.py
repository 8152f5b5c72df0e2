"""Warm notebook kernels (issue 22): each notebook in a kernel forked from the warm pool.

Real builds of temp projects through the engine: real worker pool, real IPython kernels,
the session's real MLflow server.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from mltrack.livedocs.engine import LiveDocsEngine
from mltrack.livedocs.model import EngineConfig, ItemResult
from mltrack.livedocs.runner import BuildReport
from mltrack.localserver import ThrowawayServer
from tests._helpers import notebook_json, running

pytestmark = pytest.mark.slow

#: First cell of every probe notebook: was mlflow imported before the notebook's own code
#: ran (a warm kernel), and which process, folder and experiment is this.
PROBE = (
    "import os, sys\n"
    "warm = 'mlflow' in sys.modules\n"
    "print('warm', warm, 'pid', os.getpid(), 'cwd', os.getcwd())\n"
    "print('experiment', os.environ['MLFLOW_EXPERIMENT_NAME'])\n"
)


SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass\n"


def build(
    root: Path, server: ThrowawayServer, notebooks: dict[str, str], **config: Any
) -> BuildReport:
    for name, text in notebooks.items():
        path = root / "notebooks" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    engine = LiveDocsEngine(EngineConfig(root=root, **config), progress=lambda *a: None)
    plan = engine.plan({})
    assert plan.problems == []
    return engine.runner.run(plan, server_url=server.url)


def cell_text(result: ItemResult) -> str:
    """Everything the executed notebook's cells printed."""
    assert result.notebook is not None, result.error
    nb = json.loads(Path(result.notebook).read_text())
    return "".join(
        "".join(out.get("text", "")) if isinstance(out.get("text"), list) else out.get("text", "")
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
    )


def probe(result: ItemResult) -> dict[str, str]:
    text = cell_text(result)
    words = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    first = text.splitlines()[0].split()  # warm True pid N cwd PATH
    return {**words, "warm": first[1], "pid": first[3], "cwd": first[5]}


def test_each_notebook_gets_a_fresh_warm_kernel_with_its_own_state(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    report = build(
        tmp_path,
        mlflow_server,
        {
            "a_sets.ipynb": notebook_json(
                PROBE, "import mlflow\nLEAK = 'from a'\nmlflow.leak = 1\n"
            ),
            "b_reads.ipynb": notebook_json(
                PROBE,
                "import mlflow\nprint('leak', 'LEAK' in globals(), hasattr(mlflow, 'leak'))\n",
            ),
        },
        jobs=1,  # one after the other: a's kernel has finished before b's starts
    )
    a, b = report.results["notebooks/a_sets.ipynb"], report.results["notebooks/b_reads.ipynb"]
    assert a.ok and b.ok, (a.error, b.error)
    pa, pb = probe(a), probe(b)
    # Forked from the pool that imported mlflow: the notebook did not import it itself.
    assert pa["warm"] == pb["warm"] == "True"
    assert pa["pid"] != pb["pid"]  # a fresh kernel process per notebook
    # Each in its item's own folder (shown as "."), with its own experiment.
    assert pa["cwd"] == pb["cwd"] == "." and pa["experiment"] != pb["experiment"]
    assert pb["leak"] == "False False"  # nothing a set (globals, a module) reached b
    assert not running(int(pa["pid"])) and not running(int(pb["pid"]))


def test_plain_kernel_when_the_notebook_names_another_kernel_or_the_pool_is_off(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    warm_nb = notebook_json(PROBE, "import mlflow\n")
    # Half a second of CPU in the kernel: the item's CPU time includes its kernel's.
    other_nb = notebook_json(PROBE, "import mlflow\n", SPIN, kernel="some-other-kernel")
    report = build(
        tmp_path,
        mlflow_server,
        {"warm.ipynb": notebook_json(PROBE, "import mlflow\n", SPIN), "other.ipynb": other_nb},
    )
    warm, other = report.results["notebooks/warm.ipynb"], report.results["notebooks/other.ipynb"]
    assert warm.ok and other.ok, (warm.error, other.error)
    assert probe(warm)["warm"] == "True" and probe(other)["warm"] == "False"
    assert warm.cpu_s is not None and other.cpu_s is not None
    assert warm.cpu_s >= 0.5 and other.cpu_s >= 0.5, (warm.cpu_s, other.cpu_s)

    off = build(
        tmp_path / "off", mlflow_server, {"a.ipynb": warm_nb, "b.ipynb": warm_nb}, warm_pool=False
    )
    assert all(r.ok for r in off.results.values())
    assert {probe(r)["warm"] for r in off.results.values()} == {"False"}


def test_a_crashing_kernel_fails_only_its_notebook(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    report = build(
        tmp_path,
        mlflow_server,
        {
            "crash.ipynb": notebook_json(PROBE, "import mlflow\nos.kill(os.getpid(), 9)\n"),
            "fine.ipynb": notebook_json(PROBE, "import mlflow\nprint('fine', 42)\n"),
        },
    )
    crash, fine = report.results["notebooks/crash.ipynb"], report.results["notebooks/fine.ipynb"]
    assert not crash.ok and crash.error is not None
    assert crash.error.type == "DeadKernelError" and crash.error.cell == 2, crash.error
    # Its worker's whole output on failure: the error's tail ends with nbclient's noise
    # at exit (seen once in CI: the worker exited 1, the cause cut off).
    assert fine.ok, (fine.error, fine.output[-4000:])
    assert probe(fine)["warm"] == "True" and "fine 42" in cell_text(fine)


def test_a_timeout_kills_the_kernel(tmp_path: Path, mlflow_server: ThrowawayServer) -> None:
    pid_file = tmp_path / "kernel.pid"
    hang = notebook_json(
        PROBE,
        f"import mlflow, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\n",
        timeout=3,
    )
    started = time.monotonic()
    report = build(
        tmp_path,
        mlflow_server,
        {"hang.ipynb": hang, "ok.ipynb": notebook_json(PROBE, "import mlflow\n")},
    )
    assert time.monotonic() - started < 60
    hung = report.results["notebooks/hang.ipynb"]
    assert not hung.ok and hung.error is not None and hung.error.type == "TimeoutError"
    assert report.results["notebooks/ok.ipynb"].ok
    kernel = int(pid_file.read_text())
    assert kernel != os.getpid() and not running(kernel)


def test_dependencies_of_a_warm_kernel_are_recorded(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "helper.py").write_text("VALUE = 7\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "values.txt").write_text("10\n")
    root = str(tmp_path)
    report = build(
        tmp_path,
        mlflow_server,
        {
            "uses.ipynb": notebook_json(
                PROBE,
                "import mlflow\nimport helper\n"
                f"print('read', open({root!r} + '/data/values.txt').read().strip(), helper.VALUE)\n",
            ),
            "plain.ipynb": notebook_json(PROBE, "import mlflow\nprint('nothing local')\n"),
        },
    )
    uses, plain = report.results["notebooks/uses.ipynb"], report.results["notebooks/plain.ipynb"]
    assert uses.ok and plain.ok, (uses.error, plain.error)
    assert probe(uses)["warm"] == "True" and "read 10 7" in cell_text(uses)
    assert sorted(uses.deps) == ["data/values.txt", "notebooks/helper.py"]
    assert plain.deps == {}


def test_figures_show_inline_although_the_pool_imported_matplotlib(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    # Both import pyplot, so the pool imported it (for scripts: with the Agg backend).
    plot = notebook_json(
        PROBE,
        "import mlflow\nimport matplotlib, matplotlib.pyplot as plt\n"
        "print('backend', matplotlib.get_backend())\n"
        "plt.plot([1, 2, 3])\nplt.show()\n",
    )
    report = build(tmp_path, mlflow_server, {"p1.ipynb": plot, "p2.ipynb": plot})
    for result in report.results.values():
        assert result.ok, result.error
        assert probe(result)["warm"] == "True"
        assert probe(result)["backend"] == "module://matplotlib_inline.backend_inline"
        assert result.notebook is not None
        nb = json.loads(Path(result.notebook).read_text())
        shown = [o for c in nb["cells"] for o in c.get("outputs", []) if "data" in o]
        assert any("image/png" in o["data"] for o in shown), shown
        # A kernel with a parent prints no "connect another client" banner into the log.
        assert "--existing" not in result.output


def test_the_pool_imports_the_submodules_items_import_and_ipykernel_for_notebooks(
    tmp_path: Path,
) -> None:
    from mltrack.livedocs.model import Item
    from mltrack.livedocs.runner import KERNEL_MODULES, pool_modules

    (tmp_path / "a.py").write_text(
        "import mlflow.sklearn\nfrom sklearn.linear_model import Ridge\n"
    )
    (tmp_path / "b.ipynb").write_text(
        notebook_json("import matplotlib\nfrom sklearn import datasets\nimport requests\n")
    )
    config = EngineConfig(root=tmp_path)
    script = Item(id="a.py", kind="script", path="a.py", key="a")
    nb = Item(id="b.ipynb", kind="notebook", path="b.ipynb", key="b")
    # Not skops.io (MLflow's sklearn format): it imports torch, which the example did not.
    assert pool_modules(config, [script]) == ["mlflow.sklearn", "sklearn.linear_model"]
    assert pool_modules(config, [script, nb]) == [
        "mlflow.sklearn",
        "sklearn",
        "sklearn.linear_model",
        "matplotlib.pyplot",
        *KERNEL_MODULES,
    ]
