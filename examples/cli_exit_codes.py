"""The exit status of `ml`, command by command, as a shell sees it.

0 is success, 1 a check that found a problem, 2 a usage or mltrack error (one line on
stderr, also with `--debug`, after the traceback), 130 Ctrl-C and 128+N a signal N.
"""
# livedocs: timeout=240

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from mltrack.localserver import free_port


def status(returncode: int) -> int:
    """The status a shell shows: 128+N for a process ended by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def ml(*args: str, env: dict[str, str] | None = None) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    shown = done.stdout if done.returncode in (0, 1) else done.stderr
    lines = [line.strip(" │") for line in shown.splitlines() if line.strip(" ─╭╮╰╯│")]
    print(f"{status(done.returncode):>6}  ml {shlex.join(args):<44} {(lines or ['-'])[-1]}")
    return status(done.returncode)


def interrupted(sig: signal.Signals) -> int:
    """`ml train` on a long script, stopped with SIGINT (Ctrl-C) or SIGTERM."""
    Path("slow.py").write_text("import time\nprint('training', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltrack", "train", "slow.py"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("training"):
            break
    time.sleep(0.5)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    code = status(proc.returncode)
    print(f"{code:>6}  ml train slow.py, then {sig.name}")
    return code


nowhere = f"http://127.0.0.1:{free_port()}"  # no server listens there
Path("fails.py").write_text("raise SystemExit(3)\n")
print(f"{'status':>6}  {'command':<47} last line")
codes = {
    "version": ml("--version"),
    "check": ml("doctor", env={"MLFLOW_TRACKING_URI": nowhere}),
    "unreachable": ml("server", "--check", nowhere),
    "usage": ml("runs", "--limit", "0"),
    "error": ml("promote", "no-such-model", "1"),
    "script": ml("train", "fails.py"),
    "debug": ml("--debug", "promote", "no-such-model", "1"),
    "sigint": interrupted(signal.SIGINT),
    "sigterm": interrupted(signal.SIGTERM),
}

# --- checks ---
# The cheatsheet's table of exit statuses says exactly this.
assert codes == {
    "version": 0,
    "check": 1,
    "unreachable": 2,
    "usage": 2,
    "error": 2,
    "script": 2,
    "debug": 2,
    "sigint": 130,
    "sigterm": 143,
}, codes
# Stopped by either signal, `ml train` ends its run KILLED (not left RUNNING).
import mlflow  # noqa: E402

stopped = mlflow.search_runs(filter_string="attributes.run_name = 'slow'", output_format="list")
assert sorted(run.info.status for run in stopped) == ["KILLED", "KILLED"], stopped
