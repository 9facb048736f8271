"""Prometheus metrics of the core (served at `/metrics` by the API).

`den serve --workers N` runs the API in several processes and the reconciler in another, so
it sets `PROMETHEUS_MULTIPROC_DIR` for all of them: each writes its figures to files there,
and `/metrics` (`exposition`) adds them up. A gauge then shows the most recent value set by a
live process.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

TRANSITIONS = Counter("den_trial_transitions_total", "Trial phase transitions.", ["phase", "reason"])
TIME_TO_READY = Histogram(
    "den_trial_time_to_ready_seconds",
    "From request to Ready.",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300),
)
TEARDOWN_DELAY = Histogram(
    "den_trial_expiry_teardown_delay_seconds",
    "From expires_at to teardown start.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
RECONCILE_SECONDS = Histogram("den_reconcile_pass_seconds", "Duration of one reconcile pass.")
RECONCILE_ERRORS = Counter("den_reconcile_errors_total", "Errors in reconcile passes.", ["reason"])
ORPHANS_REMOVED = Counter("den_orphans_removed_total", "Runtime resources of no live trial.")
RUNTIME_UP = Gauge(
    "den_runtime_up", "1 when the runtime answered the last call, else 0.", multiprocess_mode="livemostrecent"
)
TRIALS = Gauge(
    "den_trials", "Trials by phase, counted when scraped.", ["phase"], multiprocess_mode="livemostrecent"
)
TRIAL_REQUESTS = Counter(
    "den_trial_requests_total", "Trials asked for, by whether they need an approver.", ["outcome"]
)
EXTENSIONS = Counter("den_trial_extensions_total", "Extensions asked for and decided.", ["outcome"])
DECISIONS = Counter(
    "den_approval_decisions_total",
    "Approvers' decisions on trials and extensions.",
    ["subject", "decision"],
)
EVALUATIONS = Counter("den_evaluations_total", "Evaluations recorded, by decision.", ["decision"])
LEADER = Gauge(
    "den_reconciler_leader",
    "1 while this reconciler leads (acts), 0 while it stands by.",
    multiprocess_mode="livemostrecent",
)

SLEEPS = Counter("den_trial_sleeps_total", "Sandboxes put to sleep after their idle timeout.")
WAKE_SECONDS = Histogram(
    "den_trial_wake_seconds",
    "From a visit's request to wake a sleeping sandbox to Ready again.",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60),
)
POOL_SIZE = Gauge(
    "den_warm_pool_ready",
    "Pooled sandboxes Ready and waiting for a request, by pool, counted when scraped.",
    ["template", "pool"],
    multiprocess_mode="livemostrecent",
)
POOL_REQUESTS = Counter(
    "den_warm_pool_requests_total",
    "Requests for a template with a warm pool: `hit` got a pooled sandbox, `miss` started cold.",
    ["template", "outcome"],
)
POOL_HANDOUT = Histogram(
    "den_warm_pool_handout_seconds",
    "Time to hand out a pooled sandbox, inside the trial request.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

NOTIFICATIONS = Counter(
    "den_notification_deliveries_total",
    "Attempts at delivering a notification, by channel and outcome (delivered, retry, failed).",
    ["channel", "outcome"],
)
TRIAL_CPU_SECONDS = Counter(
    "den_trial_cpu_seconds_total",
    "CPU seconds sandboxes used, as the runtime measures them, by template.",
    ["template"],
)
TRIAL_COST = Counter(
    "den_trial_cost_total",
    "Estimated cost of sandboxes at the rate card (`DEN_RATE_CARD`): CPU used plus memory "
    "reserved while running, by template, in the rate card's currency.",
    ["template", "currency"],
)
TRIAL_PEAK_MEMORY = Histogram(
    "den_trial_peak_memory_bytes",
    "The highest memory working set of each removed sandbox, by template.",
    ["template"],
    buckets=tuple(2**n * 1024 * 1024 for n in range(2, 14)),  # 4 MiB to 8 GiB
)


def exposition() -> tuple[bytes, str]:
    """The metrics of this process, or of every process of a `den serve --workers N`."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
