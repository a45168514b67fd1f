"""What a soak must show to pass: answers within tolerance, memory flat after warm-up."""

from __future__ import annotations

from typing import Any

RTOL = 1e-5
ATOL = 1e-6
RSS_LIMIT_PCT = 10.0
WARMUP_SHARE = 0.2
WARMUP_MIN_S = 10.0
MIN_SECONDS = 15.0  # shorter runs leave nothing to measure after the warm-up


def verdict(summary: dict[str, Any]) -> list[str]:
    """The reasons the run failed; empty when it passed."""
    failures = []
    if summary["requests"] == 0:
        failures.append("no request was sent")
    if summary["http_5xx"]:
        failures.append(f"{summary['http_5xx']} responses with a 5xx status")
    if summary["http_other_non_200"]:
        failures.append(f"{summary['http_other_non_200']} other non-200 responses")
    if summary["transport_errors"]:
        failures.append(f"{summary['transport_errors']} transport errors")
    if summary["wrong_answers"]:
        failures.append(f"{summary['wrong_answers']} wrong answers")
    growth = summary["rss_mib"]["growth_pct"]
    if growth is None:
        failures.append("RSS after warm-up was not measured")
    elif growth >= RSS_LIMIT_PCT:
        failures.append(f"RSS grew {growth:.1f}% after warm-up (limit {RSS_LIMIT_PCT:g}%)")
    if summary["server_died"]:
        failures.append("the server exited during the run")
    return failures
