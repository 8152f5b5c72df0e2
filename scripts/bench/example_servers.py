"""Benchmark what examples start (issue 22): model servers and ``python -m mltrack``.

Side by side, in one run, against one throwaway tracking server and one registered
scikit-learn model (MLflow's default ``skops`` format, as the examples save it):

* ``start_local``: seconds to a ready model server, forked from this process (which has
  trained and saved the model, as an example has) vs ``MLTRACK_SERVER_START=spawn``
  (a fresh ``python -m mltrack.serve``);
* ``ml try NAME`` and ``ml ship no-such-model --local`` run as
  ``python -m mltrack ...``: through the docs build's fork server vs a fresh interpreter
  (the fork server is started before and its import time reported apart, as a build
  starts it at its beginning).

Each pair is measured alternately, ``ROUNDS`` times; medians and ratios are reported.
Goal: a forked model server starts like the throwaway tracking server (``~1.4 s``);
reported as the speed-up of each path. Prints one JSON object as the last line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, median, result  # takes this folder off sys.path first

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def main() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import mltrack
    from mltrack._forkserver import start_forkserver
    from mltrack.deploy.local import start_local
    from mltrack.localserver import start_server

    work = Path(tempfile.mkdtemp(prefix="mltrack-bench-examples-"))
    os.chdir(work)
    tracking = start_server()
    os.environ["MLFLOW_TRACKING_URI"] = tracking.url
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    mltrack.save(model, name="bench-iris", input_example=X.head(2), quiet=True)
    mltrack.promote("bench-iris", 1, to="champion", reason="bench")

    zygote_started = time.monotonic()
    forkserver = start_forkserver()
    assert forkserver is not None, "the fork server needs Linux"
    raw: dict[str, object] = {}
    try:
        # The build starts it first; wait for its imports so they are not counted twice.
        _ml(["--version"], forkserver.env)
        raw["forkserver_ready_s"] = round(time.monotonic() - zygote_started, 2)

        def start(mode: str) -> float:
            os.environ["MLTRACK_SERVER_START"] = mode
            try:
                with start_local("bench-iris", auth=False) as server:
                    return server.startup_s
            finally:
                os.environ.pop("MLTRACK_SERVER_START", None)

        pairs = {
            "start_local": (lambda: start("fork"), lambda: start("spawn")),
            "ml_try": (
                lambda: _ml(["try", "bench-iris"], forkserver.env),
                lambda: _ml(["try", "bench-iris"], {}),
            ),
            "ml_ship_error": (
                lambda: _ml(["ship", "no-such-model", "--local"], forkserver.env),
                lambda: _ml(["ship", "no-such-model", "--local"], {}),
            ),
        }
        results = []
        for name, (fast, slow) in pairs.items():
            forked, plain = [], []
            for _ in range(ROUNDS):
                forked.append(fast())
                plain.append(slow())
            raw[f"{name}_forked_s"] = [round(t, 2) for t in forked]
            raw[f"{name}_plain_s"] = [round(t, 2) for t in plain]
            results.append(result(f"{name}_speedup", median(plain) / median(forked), "x"))
            # The throwaway tracking server's start (~1.4 s) is the bar for a model server.
            goal = "<= 1.4" if name == "start_local" else None
            results.append(result(f"{name}_forked_s", median(forked), "s", goal))
        raw["load_average"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        forkserver.stop()
        tracking.stop()
        os.chdir("/")
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    emit("example_servers", results, raw)


def _ml(args: list[str], extra_env: dict[str, str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MLTRACK_FORKSERVER"}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        env={**env, **extra_env},
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - start
    if done.returncode not in (0, 2):
        raise SystemExit(f"ml {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed


if __name__ == "__main__":
    main()
