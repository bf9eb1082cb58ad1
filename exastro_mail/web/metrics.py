"""GET /metrics in Prometheus's text format, for scrapers that hold EXASTRO_MAIL_METRICS_TOKEN.

Off (404) without the token. What the processes count is in metrics_registry.py; what the database
knows (the outbox, whether it answers) is read at each scrape by OutboxCollector. Under `serve` every
process (gunicorn's workers, the outbox worker) counts into files in <instance>/metrics, emptied when
`serve` starts, and a scrape adds them up (prometheus_client's multiprocess mode).
"""

import hmac
import os
import shutil
import sys
import time
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, request
from peewee import PeeweeException, fn
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from .. import metrics_registry
from ..store.models import OutboxMessage, utcnow

bp = Blueprint("metrics", __name__)
METRICS_FOLDER = "metrics"
# Mail not yet done, the depth of the outbox: outbox/status.py QUEUED and SENDING (web/ is below outbox/).
QUEUED, SENDING = "queued", "sending"
WAITING = (QUEUED, SENDING)


@bp.get("/metrics")
def scrape():
    token = current_app.config["METRICS_TOKEN"]
    if token is None:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized(www_authenticate=WWWAuthenticate("bearer", {"realm": "metrics"}))
    import prometheus_client as prometheus
    from prometheus_client import multiprocess

    registry = prometheus.CollectorRegistry()
    if os.environ.get(metrics_registry.MULTIPROCESS_VARIABLE):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess(prometheus.REGISTRY))
    registry.register(OutboxCollector())
    return Response(prometheus.generate_latest(registry), mimetype=prometheus.CONTENT_TYPE_LATEST)


class _ThisProcess:
    """The default registry (this process's counters) as one collector of a scrape's registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


class OutboxCollector:
    """Read at each scrape: whether the database answers, the outbox's depth, the oldest due mail."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("exastro_mail_database_up", "1 when the database answered this scrape.")
        try:
            depth, oldest_due = _outbox_state()
        except PeeweeException:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        messages = GaugeMetricFamily(
            "exastro_mail_outbox_messages",
            "Mail in the outbox not yet done (queued or sending), by status and kind.",
            labels=["status", "kind"],
        )
        for (status, kind), count in sorted(depth.items()):
            messages.add_metric([status, kind], count)
        yield messages
        yield GaugeMetricFamily(
            "exastro_mail_outbox_oldest_due_seconds",
            "How long the oldest queued mail has been due (0 when none is).",
            value=oldest_due,
        )


def _outbox_state() -> tuple[dict, float]:
    now = utcnow()
    rows = (
        OutboxMessage.select(OutboxMessage.status, OutboxMessage.kind, fn.COUNT(OutboxMessage.id))
        .where(OutboxMessage.status.in_(WAITING))
        .group_by(OutboxMessage.status, OutboxMessage.kind)
        .tuples()
    )
    depth = {(status, kind): count for status, kind, count in rows}
    oldest = (
        OutboxMessage.select(OutboxMessage.next_attempt_at)
        .where((OutboxMessage.status == QUEUED) & (OutboxMessage.next_attempt_at <= now))
        .order_by(OutboxMessage.next_attempt_at)
        .first()
    )
    return depth, 0.0 if oldest is None else max(0.0, (now - oldest.next_attempt_at).total_seconds())


def _start_timer():
    g.metrics_started = time.perf_counter()


def _observe(response):
    started = g.pop("metrics_started", None)
    if started is not None:
        metrics_registry.request_answered(
            request.endpoint or "unmatched", response.status_code, time.perf_counter() - started
        )
    return response


def init_app(app) -> None:
    """Serve /metrics; with metrics on, time every request by endpoint."""
    app.register_blueprint(bp)
    if app.config["METRICS_TOKEN"] is not None:
        app.before_request(_start_timer)
        app.after_request(_observe)


def prepare_processes(app) -> None:
    """Before `serve` starts its processes: with metrics on, they all count into files in
    <instance>/metrics, emptied now (a PROMETHEUS_MULTIPROC_DIR set by the operator is left as it is)."""
    if app.config["METRICS_TOKEN"] is None or os.environ.get(metrics_registry.MULTIPROCESS_VARIABLE):
        return
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before serve chose its multiprocess folder")
    folder = Path(app.instance_path) / METRICS_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    os.environ[metrics_registry.MULTIPROCESS_VARIABLE] = str(folder)


def worker_exited(_server, worker) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges no longer count (its counters do)."""
    if os.environ.get(metrics_registry.MULTIPROCESS_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
