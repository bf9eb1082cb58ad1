"""How long the application waits on a database server before giving up (EXASTRO_MAIL_DATABASE_TIMEOUT).

A server that refuses is noticed at once; one that hangs without refusing (a frozen proxy, a stopped
process, a lost network) would hold a request until gunicorn kills its worker. So every connection
attempt and every query has a deadline on our side, where no server can forget it:

- PostgreSQL: psycopg2 waits through our callback (its public "green" hook), which gives up after the
  timeout and drops the connection. Within a web request all the waits share one deadline, so a
  frozen server costs a page at most the timeout, not a liveness check plus a new connection each
  taking it. The server is told too (statement_timeout), and TCP keepalives find a dead peer.
- MariaDB: PyMySQL's own socket timeouts (connect, read, write) and the server's max_statement_time.
- SQLite keeps its busy timeout: there is no server to hang.
"""

import contextvars
import functools
import select
import time

DEFAULT_SECONDS = 5.0
# A connection idle this long is probed, then dropped after this many unanswered probes this far apart.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 30, 5, 3


class _Budget:
    """The seconds a web request may still spend waiting on PostgreSQL, all its queries together."""

    __slots__ = ("remaining",)

    def __init__(self, seconds: float):
        self.remaining = seconds


_request_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "exastro_mail_database_budget", default=None
)


def postgresql_options(seconds: float) -> dict:
    """Connection options of psycopg2 for a timeout, and the wait callback that keeps it."""
    import psycopg2.extensions

    psycopg2.extensions.set_wait_callback(wait_with_deadline)  # process-wide: every connection has one
    milliseconds = max(1, round(seconds * 1000))
    return {
        "connection_factory": _timed_connection_class(float(seconds)),
        "connect_timeout": max(2, round(seconds)),  # libpq's own, in whole seconds (2 at least)
        "options": f"-c statement_timeout={milliseconds}",
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE,
        "keepalives_interval": KEEPALIVE_INTERVAL,
        "keepalives_count": KEEPALIVE_COUNT,
        "tcp_user_timeout": milliseconds,  # sent data left unacknowledged this long: the peer is gone
    }


def mysql_options(seconds: float) -> dict:
    """Connection options of PyMySQL for a timeout (the session's own settings go in init_command)."""
    return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}


def mysql_session_settings(seconds: float) -> str:
    """SET clause items for MariaDB's session: the server stops a statement after the timeout."""
    return f"max_statement_time={float(seconds):g}"


@functools.lru_cache(maxsize=8)
def _timed_connection_class(seconds: float):
    import psycopg2.extensions

    class TimedConnection(psycopg2.extensions.connection):
        """A psycopg2 connection that tells the wait callback how long it may wait."""

        wait_seconds = seconds

    return TimedConnection


def wait_with_deadline(conn) -> None:
    """psycopg2's wait callback: psycopg2.extras.wait_select with a deadline.

    Raises OperationalError when the server has not answered in time; psycopg2 then closes the
    connection (its state is unknown), so the pool never hands it out again.
    """
    import psycopg2

    seconds = getattr(conn, "wait_seconds", DEFAULT_SECONDS)
    budget = _request_budget.get()
    allowed = seconds if budget is None else min(seconds, budget.remaining)
    started = time.monotonic()
    try:
        if not _poll_until(conn, started + allowed):
            raise psycopg2.OperationalError(
                f"the database server did not answer within {seconds:g} s (EXASTRO_MAIL_DATABASE_TIMEOUT)"
            )
    finally:
        if budget is not None:
            budget.remaining -= time.monotonic() - started


def _poll_until(conn, deadline: float) -> bool:
    """Drive psycopg2's non-blocking calls until done (True) or the deadline passed (False)."""
    import psycopg2
    import psycopg2.extensions as ext

    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return True
        if state not in (ext.POLL_READ, ext.POLL_WRITE):
            raise psycopg2.OperationalError(f"bad state from poll: {state}")
        poller = select.poll()  # anew each time: libpq may change sockets while it connects
        poller.register(conn.fileno(), select.POLLIN if state == ext.POLL_READ else select.POLLOUT)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            return False


def start_request_clock(seconds: float) -> None:
    """From now on, until stop_request_clock, all waits on PostgreSQL together get at most seconds."""
    _request_budget.set(_Budget(seconds))


def stop_request_clock() -> None:
    """End the budget of start_request_clock (a web request is over)."""
    _request_budget.set(None)
