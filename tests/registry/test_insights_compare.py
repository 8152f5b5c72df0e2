"""compare_runs and compare_models against a real server."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from mltrack import registry
from mltrack.errors import MltrackError, ModelNotFoundError
from mltrack.insights import compare_aliases, compare_models, compare_runs


def _log_runs(experiment: str, n: int = 12) -> list[tuple[str, float, str, str]]:
    """Runs whose `score` grows with `lr` and ignores `seed`; returns (id, score, lr, opt)."""
    client = MlflowClient()
    exp_id = mlflow.set_experiment(experiment).experiment_id
    out = []
    for i in range(n):
        lr = 0.01 * (i + 1)
        score = 0.5 + 2 * lr + (0.003 if i % 2 else -0.003)
        opt = "adam" if i % 2 else "sgd"
        run = client.create_run(exp_id, run_name=f"run-{i}")
        client.log_batch(
            run.info.run_id,
            metrics=[mlflow.entities.Metric("score", score, 0, 0)],
            params=[
                mlflow.entities.Param("lr", str(lr)),
                mlflow.entities.Param("optimizer", opt),
                mlflow.entities.Param("seed", "7"),
            ],
        )
        client.set_terminated(run.info.run_id)
        out.append((run.info.run_id, score, str(lr), opt))
    return out


def test_compare_runs_ranks_and_finds_the_driving_param(experiment: str, tmp_path: Path) -> None:
    logged = _log_runs(experiment)
    result = compare_runs(experiment, "score", page_size=5)  # three pages
    scores = sorted((s for _, s, _, _ in logged), reverse=True)
    assert result.n_runs == 12 and [r.value for r in result.ranked] == scores
    assert result.best.run_id == max(logged, key=lambda r: r[1])[0]
    assert result.stats["mean"] == pytest.approx(statistics.fmean(scores))
    assert result.stats["std"] == pytest.approx(statistics.stdev(scores))
    assert result.stats["min"] == min(scores) and result.stats["max"] == max(scores)
    effects = {e.param: e for e in result.param_effects}
    assert effects["lr"].kind == "numeric" and effects["lr"].strength == "strong"
    assert "higher values do better" in effects["lr"].detail
    assert result.param_effects[0].param == "lr"
    assert "seed" not in effects  # never varies
    md = result.to_markdown()
    assert "## Top runs" in md and result.best.run_id in md and "## What moves the metric" in md
    json.dumps(result.to_dict(), default=str)
    png = result.plot(tmp_path / "runs.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    ascending = compare_runs(experiment, "score", higher_is_better=False)
    assert ascending.best.value == min(scores)
    with pytest.raises(MltrackError, match="no run of .* logged metric 'nope'"):
        compare_runs(experiment, "nope")
    with pytest.raises(MltrackError, match="no experiment named"):
        compare_runs(f"{experiment}-missing", "score")


def test_recommendation_flips_when_the_challenger_regresses(train: Any, experiment: str) -> None:
    champion = train(metrics={"val_f1": 0.80, "val_log_loss": 0.40})
    better = train(metrics={"val_f1": 0.85, "val_log_loss": 0.41}, max_depth=5)
    worse = train(metrics={"val_f1": 0.78, "val_log_loss": 0.39}, max_depth=6)

    yes = compare_models(champion.run_id, better.run_id)
    assert yes.promote and yes.primary_metric == "val_f1"
    assert yes.recommendation == "promote challenger"
    f1 = next(m for m in yes.metrics if m.name == "val_f1")
    assert f1.delta == pytest.approx(0.05) and f1.improvement == pytest.approx(0.05 / 0.80)
    assert ("max_depth", "3", "5") in yes.param_diffs
    assert "Promote the challenger" in yes.to_markdown()

    no = compare_models(champion.run_id, worse.run_id)
    assert not no.promote and no.recommendation == "keep champion"
    assert "Keep the champion" in no.to_markdown() and "improvement -2.50%" in no.reasons[0]

    # a guard metric that regresses beyond its tolerance blocks the promotion
    guarded = compare_models(champion.run_id, better.run_id, guard_metrics={"val_log_loss": 0.01})
    assert not guarded.promote and "regression 2.50% > tolerance 1.00%" in guarded.reasons[1]
    # the minimum improvement is a rule too
    strict = compare_models(champion.run_id, better.run_id, min_improvement=0.10)
    assert not strict.promote and "< required 10.00%" in strict.reasons[0]


def test_rule_comes_from_mltrack_yml(train: Any, experiment: str, tmp_path: Path) -> None:
    champion = train(metrics={"val_f1": 0.80, "val_rmse": 1.0})
    challenger = train(metrics={"val_f1": 0.79, "val_rmse": 0.9})
    (tmp_path / ".mltrack.yml").write_text(
        "promotion:\n  metric: val_rmse\n  min_improvement: 0.05\n  guard_metrics:\n    val_f1: 0.05\n"
    )
    result = compare_models(champion.run_id, challenger.run_id)
    assert result.primary_metric == "val_rmse" and result.promote  # lower rmse is better
    assert "val_rmse improves by more than 0 and at least 5.00%" in result.rule
    assert "val_f1 may regress ≤ 5.00%" in result.rule


def test_compare_aliases(train: Any, experiment: str) -> None:
    first = train(metrics={"val_f1": 0.8})
    v1 = registry.save(first.model, name=experiment, run=first.run_id, quiet=True)
    with pytest.raises(ModelNotFoundError, match="has no champion alias"):
        compare_aliases(experiment)
    registry.promote(experiment, v1.version)
    run = train(metrics={"val_f1": 0.9}, max_depth=4)
    v2 = registry.register(registry.logged_model_of_run(run.run_id), experiment, quiet=True)
    registry.promote(experiment, v2.version, to="challenger")
    result = compare_aliases(experiment)
    assert result.champion.uri == f"models:/{experiment}/1"
    assert result.challenger.uri == f"models:/{experiment}/2" and result.promote
