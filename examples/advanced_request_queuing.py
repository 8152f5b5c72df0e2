"""Request queuing: what the server enforces, and a client-side queue that respects it.

mltrack's server limits each client with a token bucket (`serve.rate_limit_per_minute`):
over the limit it answers 429 with `Retry-After` instead of queueing without bound. It
scores small requests on the event loop and large ones (`/predict/batch`) in worker
threads. The client sends the same rows three ways: micro-batched in one request, as a
burst of single-row requests, and through a queue with bounded concurrency that retries
after `Retry-After`.
"""
# livedocs: timeout=120

import asyncio
import threading
import time

import httpx
import uvicorn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.localserver import free_port
from mltrack.serve.app import create_app

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), "iris-queue", input_example=X[:2], quiet=True
)
mltrack.promote("iris-queue", saved.version)

# The same app as `ml ship iris-queue --local`, with a limit of 60 requests per minute.
app = create_app("iris-queue", auth=False, rate_limit_per_minute=60)
server = uvicorn.Server(uvicorn.Config(app, port=free_port(), log_level="warning"))
threading.Thread(target=server.run, daemon=True).start()
while not server.started:
    time.sleep(0.05)
url = f"http://127.0.0.1:{server.config.port}"
rows = X.sample(66, random_state=0).to_dict("records")


async def burst(client: httpx.AsyncClient) -> list[int]:
    replies = await asyncio.gather(*(client.post("/predict", json={"records": [r]}) for r in rows))
    return [reply.status_code for reply in replies]


async def queued(client: httpx.AsyncClient, todo: list, workers: int = 4) -> tuple[int, int]:
    queue: asyncio.Queue = asyncio.Queue()
    for row in todo:
        queue.put_nowait(row)
    done = retries = 0

    async def worker() -> None:
        nonlocal done, retries
        while not queue.empty():
            row = await queue.get()
            while (
                reply := await client.post("/predict", json={"records": [row]})
            ).status_code == 429:
                retries += 1
                await asyncio.sleep(float(reply.headers.get("retry-after", "1")))
            done += reply.status_code == 200

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done, retries


async def main() -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url) as client:
        reply = await client.post("/predict/batch", json={"records": rows})
        print(
            f"micro-batch: {len(rows)} rows in 1 request -> {reply.status_code}, "
            f"{reply.json()['rows']} rows scored"
        )
        codes = await burst(client)
        print(
            f"burst of {len(rows)} requests: {codes.count(200)} answered, "
            f"{codes.count(429)} got 429"
        )
        started = time.perf_counter()
        done, retries = await queued(client, rows[:8])  # the bucket is empty now
        # How many 429s the queue meets depends on timing; that it waits them out does not.
        waited = "each 429 retried after its Retry-After" if retries else "no 429 met"
        print(
            f"queue, 4 workers: {done}/8 answered in {time.perf_counter() - started:.1f} s, "
            f"{waited}"
        )
        return {"batch": (reply.status_code, reply.json()["rows"]), "burst": codes, "queue": done}


outcome = asyncio.run(main())
server.should_exit = True

# --- checks ---
assert outcome["batch"] == (200, 66), outcome["batch"]
codes = outcome["burst"]
assert len(codes) == 66 and set(codes) == {200, 429}, sorted(set(codes))
assert codes.count(200) <= 60, "the bucket holds 60 requests a minute"
assert outcome["queue"] == 8, "the queue waits out every 429 and gets all 8 answered"
