"""What the CLI's tables show of a run's metrics: the ones the user logged, first."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["headline_metrics", "is_autologged_metric"]

# MLflow's framework autologging: `training_*` metrics, and post-training ones named after
# the estimator's method or the dataset it scored (`LogisticRegression_score_X_test`,
# `..._unknown_dataset`).
_AUTOLOGGED = re.compile(r"^training_|_unknown_dataset|^[A-Z][A-Za-z0-9]*_score(?:_|$)")


def is_autologged_metric(name: str) -> bool:
    """Whether ``name`` looks like a metric MLflow's autologging added, not the user."""
    return bool(_AUTOLOGGED.search(name))


def headline_metrics(names: Iterable[str], limit: int) -> list[str]:
    """Up to ``limit`` metric names for a table: the user's, else the autologged ones.

    A run with autologging on carries a dozen ``training_*`` metrics next to the one the
    user returned; sorted by name they push it out of a narrow table.
    """
    unique = sorted(set(names))
    own = [name for name in unique if not is_autologged_metric(name)]
    return (own or unique)[:limit]
