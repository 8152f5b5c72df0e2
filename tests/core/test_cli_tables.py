"""Which metrics the CLI's run and version tables show: the user's, before autologging's."""

from __future__ import annotations

from mltrack.cli._tables import headline_metrics, is_autologged_metric

# What sklearn autologging adds to a run whose function returned {"accuracy": ...}.
AUTOLOGGED = [
    "training_accuracy_score",
    "training_f1_score",
    "training_log_loss",
    "training_score",
    "LogisticRegression_score_unknown_dataset-3",
    "Ridge_score_X_test",
]


def test_autologged_metric_names_are_recognised() -> None:
    assert all(is_autologged_metric(name) for name in AUTOLOGGED)
    for own in ("accuracy", "rmse", "val_loss", "loss", "f1_score", "mae"):
        assert not is_autologged_metric(own), own


def test_the_users_metrics_come_first_and_alone() -> None:
    assert headline_metrics([*AUTOLOGGED, "accuracy"], limit=4) == ["accuracy"]
    assert headline_metrics(["rmse", "mae", *AUTOLOGGED, "rmse"], limit=4) == ["mae", "rmse"]
    assert headline_metrics(["e", "d", "c", "b", "a"], limit=3) == ["a", "b", "c"]


def test_only_autologged_metrics_still_show_some() -> None:
    assert headline_metrics(AUTOLOGGED, limit=2) == [
        "LogisticRegression_score_unknown_dataset-3",
        "Ridge_score_X_test",
    ]
    assert headline_metrics([], limit=4) == []
