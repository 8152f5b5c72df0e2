"""Model resolution against the real registry, and signature validation in-process."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from mltrack.errors import ModelNotFoundError
from mltrack.serve.model import resolve_model
from mltrack.serve.schema import ColumnSpec, InputSpec, RequestError, TensorInput, parse_payload
from tests._helpers import ml_in_process


def test_name_resolves_to_champion_then_latest(tracking_uri: str, served_models) -> None:
    champion = resolve_model(served_models.table)
    assert champion.uri == f"models:/{served_models.table}@champion"
    assert (champion.version, champion.alias) == ("1", "champion")
    latest = resolve_model(served_models.tensor)  # no alias: the latest version
    assert latest.uri == f"models:/{served_models.tensor}/1" and latest.alias is None
    assert resolve_model(f"{served_models.table}/1").uri == f"models:/{served_models.table}/1"
    assert resolve_model(f"models:/{served_models.table}@champion").version == "1"


def test_missing_models_give_clear_errors(tracking_uri: str, served_models) -> None:
    with pytest.raises(ModelNotFoundError, match="no registered model named 'nope-404'"):
        resolve_model("nope-404")
    with pytest.raises(ModelNotFoundError, match="has no version 7"):
        resolve_model(f"{served_models.table}/7")
    with pytest.raises(ModelNotFoundError, match="has no alias '@prod'"):
        resolve_model(f"{served_models.table}@prod")
    with pytest.raises(ModelNotFoundError, match="no MLmodel file"):
        resolve_model("./not-a-model-dir")


def test_ml_ship_unknown_model_is_one_line(tracking_uri: str) -> None:
    proc = ml_in_process("ship", "nope-404", "--local")
    assert proc.returncode == 2
    assert "no registered model named 'nope-404'" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


ROW = {"x": 1.0, "k": 1, "flag": True}
SPEC = InputSpec(
    columns=[
        ColumnSpec("x", "double"),
        ColumnSpec("k", "long"),
        ColumnSpec("flag", "boolean"),
        ColumnSpec("name", "string", required=False),
        ColumnSpec("when", "datetime", required=False),
        ColumnSpec("score", "float", required=False),
    ]
)


def test_values_are_cast_to_signature_dtypes() -> None:
    frame, params = parse_payload(
        SPEC,
        {
            "records": [
                {"x": 1, "k": 2.0, "flag": True, "name": "a", "when": "2024-01-02T03:04:05"},
                {"x": 2.5, "k": 3, "flag": False},
            ],
            "params": {"threshold": 0.3},
        },
    )
    assert params == {"threshold": 0.3}
    assert str(frame["x"].dtype) == "float64" and str(frame["k"].dtype) == "int64"
    assert frame["flag"].tolist() == [True, False]
    assert frame["name"].iloc[0] == "a" and frame["name"].isna().iloc[1]  # optional: missing
    assert str(frame["when"].dtype).startswith("datetime64") and frame["when"].iloc[0].year == 2024


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ({"records": []}, 422, "no rows"),
        (
            {"records": [{"x": 1.0, "k": 1, "flag": "yes"}]},
            422,
            "field 'flag' (row 0): expected boolean",
        ),
        ({"records": [{"x": 1.0, "k": 1, "flag": True, "score": None}]}, 200, ""),
        ({"records": [{"x": None, "k": 1, "flag": True}]}, 422, "field 'x' (row 0) is required"),
        ({"records": [{"x": 1.0, "k": 1, "flag": True, "score": math.nan}]}, 422, "got NaN"),
        ([ROW, {**ROW, "x": math.inf}], 422, "field 'x' (row 1): expected a finite number"),
        ({"columns": {"x": [-math.inf], "k": [1], "flag": [True]}}, 422, "got -Infinity"),
        ({"records": [{**ROW, "score": 1e39}]}, 422, "1e+39 is out of range for float"),
        (
            {"split": {"columns": ["x", "k", "flag"], "data": [[1.0, 2**63, True]]}},
            422,
            "field 'k' (row 0): 9223372036854775808 is out of range for long",
        ),
        ({"split": {"data": [[1.0, 1, True]]}}, 422, "'columns' (field names)"),
        ({"split": {"columns": ["x", "k", "flag"], "data": []}}, 422, "'split.data' is empty"),
        ({"columns": {"x": [], "k": [], "flag": []}}, 422, "no rows"),
        ([], 422, "no rows"),
        ({"records": [ROW], "extra": 1}, 422, "unknown key 'extra' next to 'records'"),
        ({**ROW, "params": {}}, 422, "unknown field 'params'"),
        ({"records": [{"x": 1.0, "k": None, "flag": True}]}, 422, "is required, got null"),
        ({"split": {"columns": ["x"], "data": [[1.0, 2.0]]}}, 422, "must be a list of 1 values"),
        ({"columns": {"x": [1.0], "k": [1, 2]}}, 422, "same length"),
        ({"records": [], "split": {}}, 422, "exactly one input format"),
        ("text", 422, "expected a JSON object"),
        ({"records": [{"x": 1.0, "k": 1, "flag": True, "when": "not a date"}]}, 422, "ISO 8601"),
    ],
)
def test_validation_messages(payload, status: int, text: str) -> None:
    if status == 200:
        frame, _ = parse_payload(SPEC, payload)
        assert frame["score"].isna().all()  # null in an optional float column becomes NaN
        return
    with pytest.raises(RequestError) as info:
        parse_payload(SPEC, payload)
    assert info.value.status == status and text in info.value.message


@pytest.mark.parametrize(
    ("instances", "text"),
    [
        ([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, math.nan, 4.0]], "(row 1): expected finite numbers"),
        ([[1.0, 2.0, 3.0, 1e39]], "(row 0): expected finite numbers"),  # float32 overflow
        ([[1.0, 2.0, 3.0, True]], "expected float32 values, got boolean True"),
        ([[1.0, 2.0, 3.0, "4"]], "got string '4'"),
        ([[1.0, 2.0, 3.0, [4.0]]], "got array"),
        ([], "expected nested lists of shape ('n', 4), got 1 dimension(s)"),
        ([[1.0, 2.0]], "expected shape ('n', 4), got (1, 2)"),
    ],
)
def test_tensor_values_are_finite_numbers_of_the_signature_shape(instances, text: str) -> None:
    import numpy as np

    from mltrack.serve.schema import TensorSpecLite

    spec = InputSpec(tensors=[TensorSpecLite(None, np.dtype("float32"), (-1, 4))])
    with pytest.raises(RequestError) as info:
        parse_payload(spec, {"instances": instances})
    assert info.value.status == 422 and info.value.field == "inputs"
    assert text in info.value.message


def test_deep_nesting_is_a_400_not_a_recursion_error() -> None:
    from mltrack.serve.predictor import decode_json

    with pytest.raises(RequestError) as info:
        decode_json(b"[" * 100_000)
    assert info.value.status == 400 and "nested too deeply" in info.value.message


def test_model_without_signature_accepts_arrays_and_records() -> None:
    anything = InputSpec()
    array, _ = parse_payload(anything, {"instances": [[1, 2], [3, 4]]})
    assert isinstance(array, TensorInput) and array.rows == 2
    frame, _ = parse_payload(anything, [{"u": 1}, {"u": 2}])
    assert frame["u"].tolist() == [1, 2]


def test_generated_token_is_printed_once_and_required(
    tracking_uri: str, served_models, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastapi.testclient import TestClient

    from mltrack.config import ServeSettings
    from mltrack.serve import create_app

    app = create_app(served_models.table, ServeSettings())  # no MLTRACK_API_TOKEN set
    printed = capsys.readouterr().err
    assert printed.count("API token (shown once)") == 1
    token = printed.strip().rsplit(" ", 1)[1]
    assert token == app.state.token and len(token) >= 32
    with TestClient(app) as client:
        row = {"a": 1.0, "b": 0.0, "c": 1.0, "n": 2}
        assert client.post("/predict", json=[row]).status_code == 401
        ok = client.post("/predict", json=[row], headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1
    assert token not in capsys.readouterr().err  # never printed again


def test_loading_a_model_leaves_no_temp_dir_behind(
    tracking_uri: str, served_models, tmp_path
) -> None:
    # MLflow downloads a registered model into a mkdtemp() of its own and never removes
    # it; mltrack's download directory lives as long as the process that serves from it.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = (
        "import sys, tempfile\n"
        "from mltrack.serve.model import load_model\n"
        "loaded = load_model(sys.argv[1])\n"
        "print('loaded from', loaded.local_path)\n"
        "print('inside tmp:', str(loaded.local_path).startswith(tempfile.gettempdir()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, served_models.table],
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "inside tmp: True" in done.stdout  # it really downloaded into TMPDIR
    assert list(scratch.iterdir()) == [], f"left behind: {list(scratch.iterdir())}"


def test_a_served_model_stopped_by_sigterm_leaves_no_temp_dir(
    tracking_uri: str, served_models, tmp_path
) -> None:
    """The server process removes its download directory also when stopped with SIGTERM
    (uvicorn re-raises the signal after its graceful shutdown)."""
    from mltrack.deploy.local import start_local

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = start_local(served_models.table, auth=False, env={"TMPDIR": str(scratch)})
    try:
        assert [p.name for p in scratch.iterdir() if p.name.startswith("mltrack-model-")]
    finally:
        server.stop()  # SIGTERM to its process group
    assert server.process.returncode == 143  # a normal exit after the signal
    assert list(scratch.iterdir()) == [], f"left behind: {list(scratch.iterdir())}"


def test_ml_ship_local_stopped_by_sigterm_exits_143_and_leaves_no_temp_dir(
    tracking_uri: str, served_models, tmp_path
) -> None:
    """The foreground `ml ship --local` (what a container or systemd stops with SIGTERM)."""
    import signal

    from mltrack.localserver import free_port, wait_healthy
    from tests._helpers import start_ml

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_")}
    proc = start_ml(
        *("ship", served_models.table, "--local", "--port", str(port), "--no-auth"),
        cwd=tmp_path,
        env={**env, "MLFLOW_TRACKING_URI": tracking_uri, "TMPDIR": str(scratch)},
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout=120, proc=proc, path="/ready")
        assert [p.name for p in scratch.iterdir() if p.name.startswith("mltrack-model-")]
        os.killpg(proc.pid, signal.SIGTERM)  # `ml` and its keeper (which ignores it)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, output[-2000:]
    assert "Traceback" not in output
    assert list(scratch.iterdir()) == [], f"left behind: {list(scratch.iterdir())}"


def test_a_download_dir_left_by_a_killed_server_goes_with_the_next_model_load(
    tracking_uri: str, served_models, tmp_path
) -> None:
    """SIGKILL skips the server's exit handlers, so its download dir stays behind; it is
    named after the server's pid and start time, and the next model load removes it."""
    import signal

    from mltrack.deploy.local import start_local
    from tests._helpers import running, wait_until

    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def downloads() -> list[str]:
        return sorted(p.name for p in scratch.iterdir() if p.name.startswith("mltrack-model-"))

    killed = start_local(served_models.table, auth=False, env={"TMPDIR": str(scratch)})
    try:
        left = downloads()
        assert len(left) == 1 and left[0].startswith(f"mltrack-model-{killed.process.pid}-")
        os.killpg(killed.process.pid, signal.SIGKILL)
        assert wait_until(lambda: not running(killed.process.pid), 10)
    finally:
        killed.stop()
    assert downloads() == left, "SIGKILL ran no exit handler"
    with start_local(served_models.table, auth=False, env={"TMPDIR": str(scratch)}) as server:
        now = downloads()
        assert len(now) == 1 and now[0].startswith(f"mltrack-model-{server.process.pid}-")
    assert list(scratch.iterdir()) == [], f"left behind: {list(scratch.iterdir())}"
