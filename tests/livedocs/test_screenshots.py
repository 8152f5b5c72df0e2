"""``screenshot:`` blocks: real examples, a real MLflow server, real Chromium.

The engine is driven through its API on a tiny fixture project (one example, one page),
and through ``mkdocs build`` for what only the site build decides (strict failures, the
placeholder of a build without Chromium).
"""

from __future__ import annotations

import base64
import os
import re
import struct
import uuid
from pathlib import Path

import pytest

from mltrack.errors import LiveDocsError
from mltrack.livedocs import EngineConfig, LiveDocsEngine
from mltrack.livedocs.directives import Directive, find_directives
from mltrack.livedocs.render import fill_fragments
from mltrack.livedocs.runner import processes_with_env
from mltrack.livedocs.screenshots import FIX, browser_problem, spec_id
from mltrack.livedocs.snapshots import normalise
from tests.livedocs.test_livedocs_build import mkdocs

#: Shots need Chromium; without it they are skipped here, and fail in CI.
needs_browser = pytest.mark.skipif(
    browser_problem() is not None and not os.environ.get("CI"),
    reason=f"screenshots need Chromium and Playwright: {browser_problem()}",
)

RUNS_PY = """\
import mlflow

for name, accuracy in [("shallow", 0.81), ("deep", 0.93), ("medium", 0.88)]:
    with mlflow.start_run(run_name=name):
        mlflow.log_param("depth", len(name))
        for step in range(4):
            mlflow.log_metric("accuracy", accuracy - 0.05 * (3 - step), step=step)
print("three runs logged")
"""

ALT = "Three runs in the MLflow UI, sorted by accuracy"

PAGE = f"""\
# Runs

```livedocs
file: examples/runs.py
```

```livedocs
screenshot: mlflow-ui
of: examples/runs.py
view: experiment
sort: accuracy
alt: {ALT}
```

```livedocs
screenshot: mlflow-ui
of: examples/runs.py
view: run
run: deep
height: 500
alt: The accuracy chart of the deep run
```
"""

MKDOCS_YML = """\
site_name: screenshots test
plugins:
  - livedocs:
      reference: false
markdown_extensions:
  - admonition
  - pymdownx.superfences
  - pymdownx.tabbed:
      alternate_style: true
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("of: examples/runs.py\nalt: x", None),
        ("of: examples/runs.py", "needs 'alt:'"),
        ("alt: x", "needs 'of: examples/NAME.py'"),
        ("of: examples/runs.py\nview: charts\nalt: x", "view of mlflow-ui must be one of"),
        ("of: examples/runs.py\nview: run\nurl: /#/x\nalt: x", "'view:' or 'url:', not both"),
        ("of: examples/runs.py\nurl: models\nalt: x", "starting with '/'"),
        ("of: examples/runs.py\nheight: 5000\nalt: x", "height must be pixels"),
        ("of: examples/runs.py\nshow: code\nalt: x", "'show' is not an option of a screenshot"),
    ],
)
def test_screenshot_blocks_are_checked_with_one_clear_line(body: str, message: str | None) -> None:
    text = f"```livedocs\nscreenshot: mlflow-ui\n{body}\n```\n"
    if message is None:
        (block,) = find_directives("docs/p.md", text)
        assert block.screenshot == "mlflow-ui" and block.options["of"] == "examples/runs.py"
        return
    with pytest.raises(LiveDocsError, match=re.escape(message)) as caught:
        find_directives("docs/p.md", text)
    assert caught.value.where == "docs/p.md:1"


def test_url_keeps_its_hash_and_alt_its_quotes() -> None:
    text = (
        "```livedocs\nscreenshot: mlflow-ui\nof: examples/runs.py\n"
        "url: /#/models   # the registry\nalt: \"Runs # sorted, 'best' first\"\n```\n"
    )
    (block,) = find_directives("docs/p.md", text)
    assert block.options["url"] == "/#/models"
    assert block.options["alt"] == "Runs # sorted, 'best' first"
    other = find_directives("docs/p.md", text.replace("alt: ", "alt: x"))[0]
    assert spec_id(other) == spec_id(block), "the alt text is not part of the view"


def test_a_screenshot_key_stray_in_a_file_block_names_the_fix() -> None:
    text = "```livedocs\nfile: examples/runs.py\nview: run\n```\n"
    with pytest.raises(LiveDocsError, match="start it with 'screenshot: mlflow-ui'"):
        find_directives("docs/p.md", text)


def make_project(root: Path, page: str) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "examples" / "runs.py").write_text(RUNS_PY)
    (root / "docs" / "index.md").write_text(page)
    (root / "mkdocs.yml").write_text(MKDOCS_YML)
    return root


def png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "a PNG image"
    width, height = struct.unpack(">II", raw[16:24])  # the IHDR chunk
    return width, height


def engine_for(root: Path) -> LiveDocsEngine:
    return LiveDocsEngine(
        EngineConfig(root=root, jobs=1, warm_pool=False), progress=lambda *_: None
    )


#: A build that shoots MLflow's UI in Chromium takes longer than a plain one.
SHOOTING_BUILD_S = 400


def build_env(tmp: Path, tag: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    tmp.mkdir(exist_ok=True)
    env.update({"NO_MKDOCS_2_WARNING": "1", "TMPDIR": str(tmp), "LIVEDOCS_TEST_TAG": tag})
    env.update(extra)
    return env


@pytest.mark.slow
@needs_browser
def test_screenshots_are_shot_in_both_schemes_rendered_cached_and_snapshotted(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "proj", PAGE)
    page = "docs/index.md"
    engine = engine_for(root)
    plan = engine.plan({page: PAGE}, include_notebooks=False)
    assert plan.problems == []
    item = plan.items["examples/runs.py"]
    assert [d.where for d in item.screenshots] == [f"{page}:7", f"{page}:15"]

    report = engine.execute(plan)
    assert engine.failures(plan, report) == []
    result = report.results["examples/runs.py"]
    shots = {s.where: s for s in result.screenshots}
    table, chart = shots[f"{page}:7"], shots[f"{page}:15"]
    for shot, height in ((table, 720), (chart, 500)):
        assert shot.ok, shot.error
        assert png_size(shot.light) == png_size(shot.dark) == (1280, height)
        assert shot.light != shot.dark, "the dark scheme is another image"
    # The runs table, sorted by accuracy (best first); the chart of the run asked for.
    assert table.target.endswith("orderByKey=metrics.%60accuracy%60&orderByAsc=false")
    names = [n for n in re.findall(r"\b(shallow|deep|medium)\b", table.text)]
    assert names[:3] == ["deep", "medium", "shallow"], table.text
    assert "/model-metrics" in chart.target and "deep" in chart.text and "accuracy" in chart.text
    assert "<ago>" in table.text and " ago" not in table.text, "relative times are masked"

    rendered = engine.render_page(page, PAGE, plan, report)
    html = fill_fragments(rendered.markdown, rendered.fragments)
    figures = re.findall(r'<figure class="livedocs-screenshot".*?</figure>', html, re.S)
    assert len(figures) == 2
    light = re.findall(r'<img [^>]*src="data:image/png;base64,[^"]+#only-light"[^>]*>', figures[0])
    dark = re.findall(r'<img [^>]*src="data:image/png;base64,[^"]+#only-dark"[^>]*>', figures[0])
    assert len(light) == len(dark) == 1
    assert f'alt="{ALT}"' in light[0] and f'alt="{ALT}"' in dark[0]
    assert 'width="1280" height="720"' in light[0]
    assert f"<figcaption>{ALT}</figcaption>" in figures[0]

    # The snapshot holds the view's text, not its pixels.
    snapshot = normalise(result)
    assert "[screenshot /#/experiments/<n>/runs?orderByKey" in snapshot
    assert "  deep" in snapshot and "base64" not in snapshot and "iVBOR" not in snapshot

    # A second build (a new engine, as a new process would have) takes everything from
    # the cache: no execution, the same images.
    again = engine_for(root)
    second = again.execute(again.plan({page: PAGE}, include_notebooks=False))
    assert second.executed == []
    cached = second.results["examples/runs.py"]
    assert cached.cached and {s.light for s in cached.screenshots} == {
        s.light for s in result.screenshots
    }

    # Changing a block (its spec) runs the example again and shoots the new view.
    changed = PAGE.replace("height: 500", "height: 400")
    third = again.execute(again.plan({page: changed}, include_notebooks=False))
    assert third.executed == ["examples/runs.py"]
    new = {s.where: s for s in third.results["examples/runs.py"].screenshots}
    assert png_size(new[f"{page}:15"].light) == (1280, 400)
    # Moving a block or rewording its alt text is not a new view.
    block = find_directives(page, changed)[2]
    reworded = changed.replace("The accuracy chart of the deep run", "Deep run, accuracy")
    assert spec_id(find_directives(page, reworded)[2]) == spec_id(block)


@pytest.mark.slow
@needs_browser
def test_error_view_fails_the_strict_build_with_page_line(tmp_path: Path) -> None:
    # Only the failing view: the good ones are the test above's (each costs two shots).
    page = PAGE.split("```livedocs\nscreenshot")[0] + (
        "```livedocs\nscreenshot: mlflow-ui\nof: examples/runs.py\n"
        "url: /#/experiments/987654/runs\nalt: An experiment that does not exist\n```\n"
    )
    root = make_project(tmp_path / "proj", page)
    tmp, tag = tmp_path / "tmp", uuid.uuid4().hex
    result = mkdocs(root, build_env(tmp, tag), "--strict", timeout=SHOOTING_BUILD_S)
    assert result.returncode != 0, result.stderr[-2000:]
    assert "docs/index.md:7: screenshot of examples/runs.py: the view shows an error" in (
        result.stderr
    ), result.stderr[-3000:]
    assert "ScreenshotError" in result.stderr
    # The failure was not cached: nothing under items/ holds a result with the bad view.
    items = root / ".cache/livedocs/items"
    assert not items.is_dir() or not any("987654" in p.read_text() for p in items.iterdir())
    # Nothing outlives the build: no server, browser or temp dir of it.
    assert processes_with_env("LIVEDOCS_TEST_TAG", tag) == []
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith("mltrack-")) == []


@pytest.mark.slow
def test_without_chromium_docs_build_with_a_placeholder_and_strict_fails(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "proj", PAGE)
    tmp, tag = tmp_path / "tmp", uuid.uuid4().hex
    env = build_env(tmp, tag, MLTRACK_CHROMIUM=str(tmp_path / "no-chromium"))

    relaxed = mkdocs(root, env, timeout=SHOOTING_BUILD_S)
    assert relaxed.returncode == 0, relaxed.stderr[-3000:]
    html = (root / "site/index.html").read_text()
    assert html.count("livedocs-screenshot-missing") == 2
    assert FIX in html and ALT in html
    assert "three runs logged" in html, "the example itself still ran and shows"
    assert "docs/index.md:7: screenshot not taken" in relaxed.stderr  # a warning

    strict = mkdocs(root, env, "--strict", timeout=SHOOTING_BUILD_S)
    assert strict.returncode != 0
    assert f"docs/index.md:7: screenshot not taken: Chromium not found at {tmp_path}" in (
        strict.stderr
    )
    assert FIX in strict.stderr


@pytest.mark.slow
@needs_browser
def test_team_server_admin_page_is_shot_signed_in_and_the_server_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = (
        "```livedocs\nfile: examples/runs.py\n```\n\n"
        "```livedocs\nscreenshot: team-server\nof: examples/runs.py\n"
        "alt: The admin page of a team server, listing its users\n```\n"
    )
    root = make_project(tmp_path / "proj", page)
    tmp = tmp_path / "t"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    engine = engine_for(root)
    plan = engine.plan({"docs/index.md": page}, include_notebooks=False)
    report = engine.execute(plan)
    assert engine.failures(plan, report) == []
    (shot,) = report.results["examples/runs.py"].screenshots
    assert shot.ok and shot.target == "/#/admin"
    # Signed in as the admin: the user list, not a login prompt or a 401.
    assert "Platform Admin" in shot.text and "admin" in shot.text.split("Platform Admin")[1]
    assert png_size(shot.light) == (1280, 720)
    # The server, its temp dir and the admin password (set only for its start) are gone.
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in os.environ
    assert [p.name for p in tmp.iterdir() if p.name.startswith("mltrack-")] == []


# -- what a block's view resolves to, on a real server (no browser needed) ------------


@pytest.fixture()
def example_state(tracking_uri: str) -> dict[str, str]:
    """What an example could leave on the server: three runs (the last without metrics),
    a model registered from the first, a trace and a model card; names are unique."""
    import time

    import mlflow

    tag = uuid.uuid4().hex[:8]
    experiment, model = f"shots-{tag}", f"shots-model-{tag}"
    client = mlflow.MlflowClient(tracking_uri)
    eid = client.create_experiment(experiment)
    ids = {}
    for name, metric in (("first", 0.5), ("second", 0.7), ("last", None)):
        run = client.create_run(eid, run_name=name)
        if metric is not None:
            client.log_metric(run.info.run_id, "accuracy", metric)
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
        time.sleep(0.01)  # distinct start times: the runs are sorted by them
    client.log_text(ids["last"], "<html><body>Model card of it</body></html>", "model_card.html")
    client.create_registered_model(model)
    for _ in range(2):
        client.create_model_version(model, f"runs:/{ids['first']}/model", run_id=ids["first"])
    span = client.start_trace("predict", experiment_id=eid)
    client.end_trace(span.trace_id)
    deadline = time.monotonic() + 20
    while not client.search_traces(locations=[eid], include_spans=False):
        assert time.monotonic() < deadline, "the trace never reached the server"
        time.sleep(0.2)
    return {
        "url": tracking_uri,
        "experiment": experiment,
        "experiment_id": eid,
        "model": model,
        "trace": span.trace_id,
        **{f"run_{name}": run_id for name, run_id in ids.items()},
    }


def block(**options: str) -> Directive:
    body = "".join(f"{key}: {value}\n" for key, value in options.items())
    text = f"```livedocs\nscreenshot: mlflow-ui\nof: examples/runs.py\n{body}alt: x\n```\n"
    (found,) = find_directives("docs/p.md", text)
    return found


def test_views_resolve_to_the_examples_experiment_runs_model_and_trace(
    example_state: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    from mltrack.livedocs.screenshots import _card_html, _mlflow_path, _serving_uri, _state

    s = example_state
    state = _state(s["url"], s["experiment"])
    eid = s["experiment_id"]
    assert state.experiment_id == eid
    runs = f"/#/experiments/{eid}/runs"
    assert _mlflow_path(block(view="experiment"), state) == runs
    assert _mlflow_path(block(view="experiment", sort="accuracy"), state) == (
        f"{runs}?orderByKey=metrics.%60accuracy%60&orderByAsc=false"
    )
    # A run by name; without a name the last run that logged metrics.
    assert _mlflow_path(block(view="run", run="last"), state) == (
        f"{runs}/{s['run_last']}/model-metrics"
    )
    assert _mlflow_path(block(view="run"), state) == f"{runs}/{s['run_second']}/model-metrics"
    # The model the example's runs registered, or the one named.
    assert _mlflow_path(block(view="model"), state) == f"/#/models/{s['model']}"
    assert _mlflow_path(block(view="model", model=s["model"]), state) == f"/#/models/{s['model']}"
    assert _mlflow_path(block(view="trace"), state) == (
        f"/#/experiments/{eid}/traces?selectedEvaluationId={s['trace']}"
    )
    assert _mlflow_path(block(view="compare"), state) == f"{runs}?compareRunsMode=CHART"
    template = block(url="/#/experiments/{experiment_id}/runs/{run_id}?m={model}", run="first")
    assert _mlflow_path(template, state) == f"{runs}/{s['run_first']}?m={s['model']}"
    capfd.readouterr()
    assert "Model card of it" in _card_html(state)
    assert "Downloading artifacts" not in capfd.readouterr().err, "no progress bar on the log"
    # The model a model-server block serves: the champion, else the latest version.
    assert _serving_uri(state, None) == f"models:/{s['model']}/2"
    mlflow.MlflowClient(s["url"]).set_registered_model_alias(s["model"], "champion", "1")
    assert _serving_uri(state, s["model"]) == f"models:/{s['model']}@champion"


def test_a_missing_run_model_or_experiment_fails_the_block_naming_the_fix(
    example_state: dict[str, str], tmp_path: Path
) -> None:
    from mltrack.livedocs.model import Item, ItemResult
    from mltrack.livedocs.screenshots import ShotError, _Browser, _mlflow_path, _shoot_item, _state

    s = example_state
    state = _state(s["url"], s["experiment"])
    with pytest.raises(ShotError) as missing_run:
        _mlflow_path(block(view="run", run="deepest"), state)
    assert str(missing_run.value) == (
        "the example created no run named 'deepest'; its runs: ['first', 'last', 'second']"
    )
    with pytest.raises(ShotError) as missing_model:
        _mlflow_path(block(view="model", model="no-such-model"), state)
    assert str(missing_model.value) == (
        f"no registered model named 'no-such-model'; the example registered {s['model']!r}: "
        "fix 'model:' in the block"
    )
    with pytest.raises(ShotError, match="the example left no experiment 'gone' on the server"):
        _state(s["url"], "gone")
    with pytest.raises(ShotError, match="the example ran in no experiment of this build"):
        _state(s["url"], None)

    # Through the shooting of an item: the item fails, its error names the block's
    # page:line, and no browser was needed to find out.
    item = Item(id="examples/runs.py", kind="script", path="examples/runs.py", key="k")
    item.screenshots = [block(view="run", run="deepest"), block(view="model", model="nope")]
    item.screenshots[1].line = 9
    result = ItemResult(id=item.id, key=item.key, ok=True)
    browser = _Browser(tmp_path)
    try:
        _shoot_item(browser, item, result, s["url"], s["experiment"], lambda text: text)
    finally:
        browser.close()
    assert browser._browser is None, "no Chromium started for views that cannot be resolved"
    assert not result.ok and result.error is not None
    assert result.error.type == "ScreenshotError"
    assert result.error.message == (
        "docs/p.md:1: screenshot of examples/runs.py: the example created no run named "
        "'deepest'; its runs: ['first', 'last', 'second']; docs/p.md:9: screenshot of "
        f"examples/runs.py: no registered model named 'nope'; the example registered "
        f"{s['model']!r}: fix 'model:' in the block"
    )


def test_an_example_without_model_or_trace_says_what_to_do(tracking_uri: str) -> None:
    import mlflow

    from mltrack.livedocs.screenshots import ShotError, _card_html, _mlflow_path, _state

    experiment = f"shots-bare-{uuid.uuid4().hex[:8]}"
    client = mlflow.MlflowClient(tracking_uri)
    client.create_run(client.create_experiment(experiment), run_name="only")
    state = _state(tracking_uri, experiment)
    with pytest.raises(ShotError, match="registered no model; name one with 'model: NAME'"):
        _mlflow_path(block(view="model"), state)
    with pytest.raises(ShotError, match="recorded no trace in its experiment"):
        _mlflow_path(block(view="trace"), state)
    with pytest.raises(ShotError, match="compare needs at least two runs"):
        _mlflow_path(block(view="compare"), state)
    with pytest.raises(ShotError, match=r"holds model_card.html; log one with card.log_to_run\(\)"):
        _card_html(state)


def test_a_server_that_does_not_answer_fails_the_block_in_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from mltrack.livedocs import screenshots
    from mltrack.livedocs.screenshots import ShotError, _read, _state

    started = time.monotonic()
    with pytest.raises(ShotError, match=r"the tracking server http://127.0.0.1:9 did not answer"):
        _state("http://127.0.0.1:9", "anything")  # nothing listens on port 9
    assert time.monotonic() - started < 5, "a probe, not MLflow's minutes of retries"
    # A read that hangs (as on a server that accepts but never answers) is given up on.
    monkeypatch.setattr(screenshots, "READ_TIMEOUT_S", 0.2)
    with pytest.raises(ShotError, match="did not answer within 0.2 s"):
        _read(time.sleep, 5)
    with pytest.raises(KeyError):  # what a read raises reaches the caller
        _read({"a": 1}.__getitem__, "x")
    assert _read(sorted, [2, 1], reverse=True) == [2, 1]
