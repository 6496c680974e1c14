"""Prometheus metrics, all prefixed ``aigc_``, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("aigc_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "aigc_request_latency_seconds",
    "Time from request to the end of the response (streams included)",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TOKENS = Counter("aigc_tokens_total", "Tokens processed", ["kind"])
ACTIVE_STREAMS = Gauge("aigc_active_streams", "Streaming responses in progress")
RATE_LIMITED = Counter("aigc_rate_limited_total", "Requests refused by limits or quotas", ["code"])
