"""The runs table under an example's output: the keys the example names, the rest folded."""

from __future__ import annotations

import re
from pathlib import Path

from mltrack.livedocs.directives import find_directives
from mltrack.livedocs.model import Item, ItemResult, RunSummary
from mltrack.livedocs.render import fill_fragments, render_directive

SOURCE = """\
@mltrack.track
def train(C: float = 1.0, max_iter: int = 200) -> dict[str, float]:
    model = LogisticRegression(C=C, max_iter=max_iter).fit(X, y)
    return {"accuracy": model.score(X, y)}
"""
# What sklearn autologging adds next to them.
AUTOLOGGED = {"class_weight": "None", "dual": "False", "solver": "lbfgs", "tol": "0.0001"}


def _table(tmp_path: Path, source: str, run: RunSummary, show: str = "both") -> str:
    (tmp_path / "examples").mkdir(exist_ok=True)
    (tmp_path / "examples" / "t.py").write_text(source)
    page = f"```livedocs\nfile: examples/t.py\nshow: {show}\n```\n"
    directive = find_directives("docs/p.md", page)[0]
    item = Item(id="examples/t.py", kind="script", path="examples/t.py")
    result = ItemResult(id=item.id, key="k", ok=True, output="done\n", returncode=0, runs=[run])
    rendered = render_directive(tmp_path, directive, item, result)
    tokens = re.findall(r"LIVEDOCSFRAGMENT\w{16}", rendered.markdown)
    html = fill_fragments("\n".join(f"<p>{t}</p>" for t in tokens), rendered.fragments)
    return html[html.index('<div class="livedocs-runs">') :]


def _cells(table: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", table)


def test_named_params_and_metrics_first_autologged_ones_behind_more(tmp_path: Path) -> None:
    run = RunSummary(
        name="train",
        status="FINISHED",
        params={"C": "0.1", "max_iter": "200", **AUTOLOGGED},
        metrics={"accuracy": 0.9333, "training_score": 0.92, "training_log_loss": 0.33},
    )
    for show in ("both", "output", "markdown"):
        name, status, params, metrics = _cells(_table(tmp_path, SOURCE, run, show))
        assert params.startswith("<code>C=0.1, max_iter=200</code>"), params
        assert '<details class="livedocs-more"><summary>4 more</summary>' in params
        assert "class_weight=None, dual=False, solver=lbfgs, tol=0.0001" in params
        assert metrics.startswith("<code>accuracy=0.9333</code>"), metrics
        assert "<summary>2 more</summary><code>training_log_loss=0.33, training_score=0.92" in (
            metrics
        )


def test_a_key_is_named_as_a_whole_word_only(tmp_path: Path) -> None:
    # `tol` inside `tolerance`, `C` inside `CV` or as an attribute (`x.C`): not the keys.
    source = "tolerance = 1\nCV = 2\nx.C = 3\nalpha = 0.5\n"
    run = RunSummary("r", "FINISHED", params={"tol": "1", "C": "2", "alpha": "0.5"}, metrics={})
    params = _cells(_table(tmp_path, source, run))[2]
    assert params.startswith("<code>alpha=0.5</code><details"), params
    assert "<summary>2 more</summary><code>C=2, tol=1</code>" in params, params


def test_when_nothing_is_named_the_first_keys_show(tmp_path: Path) -> None:
    params = {f"p{i:02d}": str(i) for i in range(11)}
    run = RunSummary("r", "FINISHED", params=params, metrics={})
    cell, metrics = _cells(_table(tmp_path, "print('no names')\n", run))[2:]
    shown = cell.split("<details")[0]
    assert shown == "<code>" + ", ".join(f"p{i:02d}={i}" for i in range(8)) + "</code>", cell
    assert "<summary>3 more</summary><code>p08=8, p09=9, p10=10</code>" in cell
    assert metrics == "&mdash;"
