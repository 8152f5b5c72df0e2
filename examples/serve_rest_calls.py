# livedocs: timeout=180
"""Real calls to every route of the model API, with their requests and answers.

Each call below is sent to a running server; what is printed is what it answered.
The server runs with a token and a rate limit of 30 requests per minute.
"""

import json

import httpx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.deploy.local import start_local

X, y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y),
    name="iris-rest",
    input_example=X.head(2),
    quiet=True,
)
mltrack.promote("iris-rest", saved.version, to="champion")
row = X.iloc[0].to_dict()


answers: list[httpx.Response] = []


def show(
    api: httpx.Client, method: str, path: str, body=None, raw: bytes | None = None, **kw
) -> None:
    response = api.request(method, path, json=body, content=raw, **kw)
    answers.append(response)
    sent = raw.decode() if raw is not None else json.dumps(body) if body is not None else ""
    print(f"{method} {path} {sent[:100]}".rstrip())
    text = json.dumps(response.json())[:400]
    print(f"-> {response.status_code} {text}\n")


env = {"MLTRACK_SERVE__RATE_LIMIT_PER_MINUTE": "30", "MLTRACK_SERVE__MAX_BODY_BYTES": "65536"}
with start_local("iris-rest", env=env) as server:
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    anonymous = httpx.Client(base_url=server.url, timeout=30)
    show(anonymous, "GET", "/health")
    show(anonymous, "GET", "/ready")
    show(api, "POST", "/predict", {"records": [row]})
    show(api, "POST", "/predict", [row, {**row, "petal_length": 5.5}])
    show(api, "POST", "/predict", {"split": {"columns": list(row), "data": [list(row.values())]}})
    show(api, "POST", "/predict", {"columns": {k: [v] for k, v in row.items()}})
    show(api, "POST", "/predict/batch", {"records": X.head(5).to_dict("records")})
    show(api, "GET", "/metadata")
    show(
        api, "POST", "/predict", raw=b'{"records": [', headers={"content-type": "application/json"}
    )
    show(api, "POST", "/predict", {"records": [{**row, "petal_width": "wide"}]})
    show(api, "POST", "/predict", {"records": [{**row, "colour": "blue"}]})
    show(api, "POST", "/predict", [row, {**row, "sepal_width": None}])  # a missing value
    show(anonymous, "POST", "/predict", {"records": [row]})
    show(api, "POST", "/predict", {"records": [row] * 2000})
    for _ in range(30):
        api.post("/predict", json=[row])
    show(api, "POST", "/predict", {"records": [row]})
    metrics = api.get("/metrics").text
    print("GET /metrics\n-> 200 (excerpt)")
    print("\n".join(line for line in metrics.splitlines() if "mltrack_requests_total" in line))

# --- checks ---
(health, ready, records, bare, split, columns, batch, meta, malformed, wrong_type, unknown, missing,
 anonymous_call, too_big, limited) = answers  # fmt: skip
assert [r.status_code for r in (health, ready, records, bare, split, columns, batch, meta)] == [
    200
] * 8
assert len(records.json()["predictions"]) == len(split.json()["predictions"]) == 1
assert len(columns.json()["predictions"]) == 1 and len(bare.json()["predictions"]) == 2
assert batch.json()["rows"] == len(batch.json()["predictions"]) == 5
assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
assert wrong_type.status_code == 422 and wrong_type.json()["field"] == "petal_width"
assert unknown.status_code == 422 and unknown.json()["field"] == "colour"
assert missing.status_code == 422 and missing.json()["field"] == "sepal_width"
assert "(row 1) is required, got null" in missing.json()["error"]
assert anonymous_call.status_code == 401 and too_big.status_code == 413
assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
assert "mltrack_requests_total" in metrics
