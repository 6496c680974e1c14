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

# Serving engine and upstreams (labelled by model name).
ENGINE_QUEUE = Gauge("aigc_engine_queue_depth", "Requests waiting for the batch", ["model"])
ENGINE_RUNNING = Gauge("aigc_engine_running_batch", "Requests in the running batch", ["model"])
ENGINE_KV_USE = Gauge("aigc_engine_kv_cache_usage", "Fraction of the KV-cache budget", ["model"])
ENGINE_TOKENS = Counter("aigc_engine_generated_tokens_total", "Tokens generated", ["model"])
ENGINE_TTFT = Histogram(
    "aigc_engine_time_to_first_token_seconds",
    "From submission to the first token",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ENGINE_ITL = Histogram(
    "aigc_engine_inter_token_latency_seconds",
    "Between consecutive tokens of one request",
    ["model"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
UPSTREAM_CALLS = Counter(
    "aigc_upstream_calls_total", "Calls to upstream servers by outcome", ["outcome"]
)

# How late the event loop runs a timer: what a request waits before the server even looks at it.
EVENT_LOOP_LAG = Histogram(
    "aigc_event_loop_lag_seconds",
    "How late the event loop ran a periodic timer (work holding the loop delays every request)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
