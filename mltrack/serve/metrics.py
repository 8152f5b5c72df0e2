"""Prometheus metrics in the text exposition format, without extra dependencies.

A few counters and one latency histogram are all the server needs, so they are kept
here (thread-safe, label sets bounded by the fixed route list) rather than pulling in
``prometheus_client``. The output follows the text format version 0.0.4.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Upper bounds (seconds) of the request latency histogram buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class Metrics:
    """Request counters, a latency histogram, prediction and error counts.

    Args:
        model_labels: constant labels of the ``mltrack_model_info`` gauge (name, version).
    """

    def __init__(self, model_labels: dict[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)
        self._rows = 0
        self._model_errors = 0
        self._in_flight = 0
        self._started = time.time()
        self.model_labels = dict(model_labels or {})
        self.model_load_seconds: float | None = None

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        with self._lock:
            self._in_flight -= 1
            self._requests[(method, path, str(status))] += 1
            buckets = self._buckets.get(path)
            if buckets is None:
                buckets = self._buckets[path] = [0] * len(LATENCY_BUCKETS)
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
                    break
            self._sum[path] += seconds
            self._count[path] += 1

    def predicted(self, rows: int) -> None:
        with self._lock:
            self._rows += rows

    def model_error(self) -> None:
        with self._lock:
            self._model_errors += 1

    def render(self) -> str:
        """The metrics in Prometheus text format."""
        lines: list[str] = []
        with self._lock:
            lines += [
                "# HELP mltrack_requests_total HTTP requests by method, route and status.",
                "# TYPE mltrack_requests_total counter",
            ]
            for (method, path, status), value in sorted(self._requests.items()):
                labels = _labels((("method", method), ("path", path), ("status", status)))
                lines.append(f"mltrack_requests_total{labels} {value}")
            lines += [
                "# HELP mltrack_request_duration_seconds Request latency by route.",
                "# TYPE mltrack_request_duration_seconds histogram",
            ]
            for path in sorted(self._buckets):
                cumulative = 0
                for bound, count in zip(LATENCY_BUCKETS, self._buckets[path], strict=True):
                    cumulative += count
                    labels = _labels((("path", path), ("le", repr(bound))))
                    lines.append(f"mltrack_request_duration_seconds_bucket{labels} {cumulative}")
                inf = _labels((("path", path), ("le", "+Inf")))
                lines.append(f"mltrack_request_duration_seconds_bucket{inf} {self._count[path]}")
                only = _labels((("path", path),))
                lines.append(f"mltrack_request_duration_seconds_sum{only} {self._sum[path]:.6f}")
                lines.append(f"mltrack_request_duration_seconds_count{only} {self._count[path]}")
            lines += [
                "# HELP mltrack_predictions_total Rows scored by the model.",
                "# TYPE mltrack_predictions_total counter",
                f"mltrack_predictions_total {self._rows}",
                "# HELP mltrack_model_errors_total Requests where the model raised an exception.",
                "# TYPE mltrack_model_errors_total counter",
                f"mltrack_model_errors_total {self._model_errors}",
                "# HELP mltrack_requests_in_flight Requests being handled now.",
                "# TYPE mltrack_requests_in_flight gauge",
                f"mltrack_requests_in_flight {self._in_flight}",
            ]
        info = _labels(tuple(sorted(self.model_labels.items())))
        lines += [
            "# HELP mltrack_model_info The served model (value is always 1).",
            "# TYPE mltrack_model_info gauge",
            f"mltrack_model_info{info} 1",
            "# HELP mltrack_start_time_seconds Unix time the server started.",
            "# TYPE mltrack_start_time_seconds gauge",
            f"mltrack_start_time_seconds {self._started:.3f}",
        ]
        if self.model_load_seconds is not None:
            lines += [
                "# HELP mltrack_model_load_seconds Time to download and load the model.",
                "# TYPE mltrack_model_load_seconds gauge",
                f"mltrack_model_load_seconds {self.model_load_seconds:.6f}",
            ]
        return "\n".join(lines) + "\n"
