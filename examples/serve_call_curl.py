"""Call a served model with curl: the same `/predict` request from a shell.

The model is registered and served locally first; the commands then run in a real shell
(`bash -c`), where `$MODEL_URL` and `$MLTRACK_API_TOKEN` are set as they would be in yours.
"""
# livedocs: timeout=180

import json
import logging
import os
import secrets
import shutil
import subprocess

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.deploy.local import start_local

if shutil.which("curl") is None:
    raise SystemExit("this example runs curl, which is not installed: apt-get install curl")
logging.getLogger("mlflow").setLevel(logging.ERROR)  # only the session below is printed
X, y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
model = LogisticRegression(max_iter=500).fit(X, y)
mltrack.save(model, name="iris-curl", input_example=X.head(2), quiet=True)
os.environ["MLTRACK_API_TOKEN"] = secrets.token_urlsafe(32)  # the server's token
body = json.dumps({"records": [X.iloc[0].to_dict(), X.iloc[120].to_dict()]})


outputs: list[str] = []


def shell(command: str) -> None:
    """Run one command line in bash and print it with what it printed."""
    print(f"$ {command}")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    print(done.stdout.strip(), "\n")
    outputs.append(done.stdout.strip())


with start_local("iris-curl") as server:
    os.environ["MODEL_URL"] = server.url
    shell("curl -s $MODEL_URL/health")
    shell(
        'curl -s $MODEL_URL/predict -H "Authorization: Bearer $MLTRACK_API_TOKEN" '
        f"-H 'content-type: application/json' -d '{body}'"
    )
    shell("curl -s -o /dev/null -w '%{http_code}\\n' $MODEL_URL/predict -d '{}'  # no token")

# --- checks ---
health, predicted, no_token = outputs
assert json.loads(health) == {"status": "ok"}
assert json.loads(predicted)["predictions"] == model.predict(X.iloc[[0, 120]]).tolist()
assert no_token == "401"
