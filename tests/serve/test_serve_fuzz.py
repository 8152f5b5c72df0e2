"""Schemathesis against real `ml ship NAME --local` servers, auth on: zero failures.

Every check schemathesis has runs on every generated request (valid and invalid bodies,
boundary values, requests without the token, other methods), for a tabular and a tensor
model, with a fixed seed: the server answers no 5xx and exactly what its own OpenAPI
document says it accepts, rejects and returns.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from mltrack.localserver import ThrowawayServer, free_port, wait_healthy
from tests._helpers import start_ml

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.config import SchemathesisConfig  # noqa: E402

TOKEN = "fuzz-token-0123456789abcdef"
SEED = 21
#: Per operation; the two predict routes get this many each, the GET routes what exists.
MAX_EXAMPLES = 300
MIN_CASES = 500  # per model, all operations together


def _equal_lengths(case: Any) -> Any:
    """Give a generated valid body the one constraint JSON Schema cannot state.

    The lists of a ``columns`` body, and ``split.columns`` with each ``split.data`` row,
    must have the same length (the schema says so in words); cut them to the shortest.
    Only valid (positive) cases are touched, so invalid ones stay invalid.
    """
    meta = case.meta
    body = case.body
    if meta is None or not meta.generation.mode.is_positive or not isinstance(body, dict):
        return case
    for value in body.values():
        if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            shortest = min(len(v) for v in value.values())
            for name in value:
                value[name] = value[name][:shortest]
    return case


def _serve(model: str, tracking_uri: str, workdir: Any) -> Iterator[str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_")},
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLTRACK_API_TOKEN": TOKEN,
        "PYTHONWARNINGS": "ignore",
    }
    proc = start_ml("ship", model, "--local", "--port", str(port), cwd=workdir, env=env)
    assert proc.stdout is not None
    drain = threading.Thread(target=proc.stdout.read, daemon=True)  # a full pipe would block it
    drain.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=120, proc=proc, path="/ready")
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _fuzz(url: str) -> tuple[int, list[str], dict[int, int]]:
    """Run schemathesis (every phase, every check) against ``url``.

    Returns:
        (requests sent, one line per failed check, count of each response status).
    """
    from schemathesis.engine import Status, events, from_schema

    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": url,
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "checks": {"enabled": True},
        }
    )
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    schema.hook("map_case")(lambda _ctx, case: _equal_lengths(case))
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    # schemathesis sometimes labels as valid a body that breaks `minItems` next to
    # `prefixItems` (split rows and columns), and as invalid an integer equal to a bound
    # written as a float (-1.7976931348623157e308): the document itself, checked here
    # with jsonschema, decides. A rejected body it rejects, or an accepted body it
    # accepts, is no failure of the server.
    body_schema = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/PredictRequest", "components": document["components"]}
    )
    sent = 0
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for interaction in recorder.interactions.values():
                sent += 1
                if interaction.response is not None:
                    code = interaction.response.status_code
                    statuses[code] = statuses.get(code, 0) + 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE:
                        case = recorder.cases[case_id].value
                        valid = body_schema.is_valid(case.body)
                        if (check.name == "positive_data_acceptance" and not valid) or (
                            check.name == "negative_data_rejection" and valid
                        ):
                            continue  # schemathesis mislabelled the body: see above
                        info = check.failure_info
                        title = info.failure.title if info is not None else ""
                        error = next(iter(body_schema.iter_errors(case.body)), None)
                        failures.append(
                            f"{recorder.label} {check.name} ({event.phase}): {title} "
                            f"body={case.body!r:.300} document says: "
                            f"{'valid' if error is None else repr(error.message[-300:])}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"error: {event!r:.500}")
    return sent, failures, statuses


@pytest.mark.slow
def test_tabular_model_api_matches_its_openapi(
    mlflow_server: ThrowawayServer, served_models, tmp_path
) -> None:
    for url in _serve(served_models.plain, mlflow_server.url, tmp_path):
        sent, failures, statuses = _fuzz(url)
    print(f"{sent} requests, statuses {dict(sorted(statuses.items()))}")  # shown with -s
    assert not failures, "\n".join(sorted(set(failures))[:40])
    assert sent >= MIN_CASES, (sent, statuses)
    assert not any(code >= 500 for code in statuses), statuses
    assert statuses.get(200, 0) > 50 and statuses.get(422, 0) > 50, statuses  # both kinds ran


@pytest.mark.slow
def test_tensor_model_api_matches_its_openapi(
    mlflow_server: ThrowawayServer, served_models, tmp_path
) -> None:
    for url in _serve(served_models.tensor, mlflow_server.url, tmp_path):
        sent, failures, statuses = _fuzz(url)
    print(f"{sent} requests, statuses {dict(sorted(statuses.items()))}")  # shown with -s
    assert not failures, "\n".join(sorted(set(failures))[:40])
    assert sent >= MIN_CASES, (sent, statuses)
    assert not any(code >= 500 for code in statuses), statuses
    assert statuses.get(200, 0) > 50 and statuses.get(422, 0) > 50, statuses
