"""Call a served model with `ml try`: the request, the prediction and the latency.

`ml try URL` sends the model's input example (or `--data FILE`) to a running server with
the token from `MLTRACK_API_TOKEN`; `--repeat N` reports the median latency of N calls.
"""
# livedocs: timeout=180

import json
import logging
import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.deploy.local import start_local

logging.getLogger("mlflow").setLevel(logging.ERROR)  # only the session below is printed
X, y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
model = LogisticRegression(max_iter=500).fit(X, y)
mltrack.save(model, name="iris-try-url", input_example=X.head(2), quiet=True)
os.environ["MLTRACK_API_TOKEN"] = secrets.token_urlsafe(32)  # the server's token
Path("rows.json").write_text(json.dumps({"records": [X.iloc[0].to_dict(), X.iloc[120].to_dict()]}))


outputs: list[str] = []


def ml(*args: str) -> None:
    print("$ ml", shlex.join(args).replace(os.environ.get("MODEL_URL", "-"), "$MODEL_URL"))
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", *args], capture_output=True, text=True, check=True
    )
    print(done.stdout.strip(), "\n")
    outputs.append(done.stdout)


with start_local("iris-try-url") as server:
    os.environ["MODEL_URL"] = server.url
    ml("try", server.url, "--data", "rows.json")
    ml("try", server.url, "--repeat", "20")

# --- checks ---
scored, repeated = outputs
assert '"predictions"' in scored and "latency" in repeated
