"""Prometheus metrics under controller-runtime's names, so existing dashboards work."""

from prometheus_client import Counter, Histogram

RECONCILES = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller and result.",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller.",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller.",
    ["controller"],
)
APPLY_REQUESTS = Counter(
    "stratus_apply_requests_total",
    "Server-side apply requests sent for children, by kind: how much writing reconciles cost.",
    ["kind"],
)
API_REQUESTS = Counter(
    "stratus_api_requests_total",
    "Requests the operator sent to the Kubernetes API, by verb and kind: what reconciles cost.",
    ["verb", "kind"],
)
