"""`ml ui`: the MLflow UI on the project's own tracking store.

With no tracking server configured, `ml ui` serves MLflow's UI on the project's
embedded store (created on first use) until Ctrl-C. The script starts it like a
terminal would, opens the page over HTTP, then presses Ctrl-C.
"""
# livedocs: timeout=240
# livedocs: snapshot_mask=(?<=--port\s)\d+

import os
import signal
import subprocess
import sys
import time

import httpx

from mltrack.localserver import free_port

port = free_port()
# No MLFLOW_/MLTRACK_ settings: the project's local store, as on a fresh laptop.
env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
print(f"$ ml ui --port {port} --no-browser")
ui = subprocess.Popen(
    [sys.executable, "-m", "mltrack", "ui", "--port", str(port), "--no-browser"],
    env=env | {"NO_COLOR": "1"},
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
)
try:
    assert ui.stdout is not None
    for line in ui.stdout:  # wait for the line that says where the UI is
        print(line.rstrip())
        if line.startswith("MLflow UI"):
            break
    page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
    print(f"GET / -> {page.status_code}, {page.headers['content-type']}")
    time.sleep(0.5)
    ui.send_signal(signal.SIGINT)  # Ctrl-C
    rest, _ = ui.communicate(timeout=60)
    print("^C")
    print(rest.strip())
finally:
    if ui.poll() is None:
        ui.kill()
print(f"(exit status {ui.returncode})")

# --- checks ---
assert page.status_code == 200 and "text/html" in page.headers["content-type"], page
assert ui.returncode == 130, ui.returncode  # Ctrl-C: status 130, the UI stopped with it
assert "MLflow UI stopped" in rest, rest
