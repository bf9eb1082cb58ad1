"""What this process counts for /metrics (web/metrics.py): deliveries, token failures, request latency.

prometheus_client picks where values live when it is first imported: in memory, or in files under
PROMETHEUS_MULTIPROC_DIR that every process of one `serve` writes and a scrape adds up. `serve` names
that folder only after the app is made (it lives in the instance folder), so prometheus_client is
imported here at first use, never when this module is imported. Labels are endpoint names,
organization IDs, token endpoint hosts and result words: never an address, never a secret.
"""

import threading
from types import SimpleNamespace

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# An outbox status as the result of one delivery attempt.
DELIVERY_RESULTS = {"sent": "sent", "queued": "retried", "failed": "failed", "expired": "expired"}
# Request latency buckets, in seconds: pages answer in tens of milliseconds; 5 s is the database timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


_made: list[SimpleNamespace] = []
# serve's gthread workers answer several requests at once: the first ones must not register twice.
_making = threading.Lock()


def _metrics() -> SimpleNamespace:
    if not _made:
        with _making:
            if not _made:
                _made.append(_make())
    return _made[0]


def _make() -> SimpleNamespace:
    import prometheus_client as prometheus  # at first use: see the module's docstring

    return SimpleNamespace(
        deliveries=prometheus.Counter(
            "exastro_mail_deliveries",
            "Delivery attempts of outbox mail by result (sent, retried, failed, expired) and organization.",
            ["organization", "result"],
        ),
        token_failures=prometheus.Counter(
            "exastro_mail_oauth_token_failures",
            "OAuth 2.0 token requests that gave no token, by token endpoint host and kind of failure.",
            ["host", "kind"],
        ),
        request_seconds=prometheus.Histogram(
            "exastro_mail_http_request_duration_seconds",
            "Time to answer a web request, by endpoint (the view's name) and status class.",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
        ),
    )


def delivery_finished(organization: str, status: str) -> None:
    """Count one delivery attempt of an organization's mail that ended in this outbox status."""
    _metrics().deliveries.labels(organization, DELIVERY_RESULTS.get(status, status)).inc()


def token_request_failed(host: str, kind: str) -> None:
    """Count a token request to a token endpoint (its host) that gave no token."""
    _metrics().token_failures.labels(host, kind).inc()


def request_answered(endpoint: str, status: int, seconds: float) -> None:
    """Record how long a web request took (status as its class: 2xx, 4xx, 5xx...)."""
    _metrics().request_seconds.labels(endpoint, f"{status // 100}xx").observe(seconds)
