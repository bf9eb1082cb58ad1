"""Where a login page GET and a forgot-password POST spend their time, inside our app.

Runs the real app in-process on a fresh instance folder (CSRF on, rate limits raised out of reach, as
in compare_peers.py), and for each hot path prints:

1. a breakdown per request, from timers wrapped around the parts that matter (SQLite connect, SQL
   building vs execution, templates, CSRF, session cookie, rate limits, Flask-Login, ...), each time
   counted once (a part called inside another is taken out of the outer one);
2. what-if timings: the same requests with one candidate change applied in-process (nothing in the
   product is edited), so each remaining candidate in docs/benchmarks.md comes with its measured gain;
3. a pyinstrument profile, saved as HTML (and its top as text) under --out.

    .venv/bin/python bench/profile_hot_paths.py [--requests 500] [--out /tmp/exastro-profile]
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import peewee
from flask import sessions as flask_sessions
from flask import templating
from flask_login import login_manager as flask_login_manager
from flask_wtf import csrf as flask_wtf_csrf
from werkzeug.test import EnvironBuilder

REPO = Path(__file__).resolve().parent.parent
ORG = "acme"
EMAIL = "alice@example.com"


class PartTimers:
    """Wraps functions with timers; a wrapped call inside another is subtracted from the outer one."""

    def __init__(self):
        self.exclusive = defaultdict(float)
        self.calls = defaultdict(int)
        self._stack = []  # [label, time spent in wrapped children]
        self._originals = []

    def wrap(self, owner, name: str, label) -> None:
        """Time owner.name under label (a string, or a function of the call's arguments)."""
        original = getattr(owner, name)
        timers = self

        def timed(*args, **kwargs):
            part = label(*args, **kwargs) if callable(label) else label
            frame = [part, 0.0]
            timers._stack.append(frame)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                timers._stack.pop()
                timers.exclusive[part] += elapsed - frame[1]
                timers.calls[part] += 1
                if timers._stack:
                    timers._stack[-1][1] += elapsed

        self._originals.append((owner, name, original))
        setattr(owner, name, timed)

    def reset(self) -> None:
        self.exclusive.clear()
        self.calls.clear()

    def restore(self) -> None:
        for owner, name, original in reversed(self._originals):
            setattr(owner, name, original)
        self._originals.clear()


def _template_part(app, template, context):
    name = template.name or ""
    return (
        "mail body templates (Jinja)"
        if name.startswith("mail/")
        else "page template (Jinja + WTForms widgets)"
    )


def install_timers(timers: PartTimers) -> None:
    """Timers on the library and app functions a hot path goes through (before create_app binds them)."""
    from exastro_mail.password_reset import flow
    from exastro_mail.store import audit, secretbox
    from exastro_mail.web import page_cache as anonymous_pages
    from exastro_mail.web import rate_limits

    timers.wrap(peewee.SqliteDatabase, "connect", "SQLite connect + PRAGMAs (per request)")
    timers.wrap(peewee.Database, "execute", "SQL building (peewee query objects to SQL text)")
    timers.wrap(peewee.Database, "execute_sql", "SQL execution (sqlite3, incl. BEGIN)")
    timers.wrap(peewee.Database, "commit", "COMMIT")
    timers.wrap(peewee.Model, "__init__", "model instances (peewee rows)")
    timers.wrap(templating, "_render", _template_part)
    timers.wrap(flask_wtf_csrf, "generate_csrf", "CSRF token made (Flask-WTF, itsdangerous)")
    # The stored pages call it through their own reference, taken when they were imported.
    timers.wrap(anonymous_pages, "generate_csrf", "CSRF token made (Flask-WTF, itsdangerous)")
    timers.wrap(flask_wtf_csrf, "validate_csrf", "CSRF token checked (Flask-WTF, itsdangerous)")
    timers.wrap(flask_sessions.SecureCookieSessionInterface, "open_session", "session cookie read")
    timers.wrap(
        flask_sessions.SecureCookieSessionInterface, "save_session", "session cookie written (Set-Cookie)"
    )
    timers.wrap(rate_limits.RateLimits, "_ask", "rate limit counted (limits, memory://)")
    timers.wrap(
        flask_login_manager.LoginManager, "_load_user", "Flask-Login anonymous user (+ session protection)"
    )
    timers.wrap(secretbox, "seal", "Fernet sealing of what was typed")
    # flow calls it through its own reference, taken when it was imported (password_reset/mail_kind.py).
    timers.wrap(flow, "enqueue_reset_request", "outbox row (enqueue_reset_request, own work)")
    timers.wrap(audit, "record", "audit record (own work)")
    timers.wrap(flow, "request_reset", "request_reset (own work)")
    timers.wrap(anonymous_pages, "_render_with_placeholder", "first render of a stored page")


# The limits stay on (their checks cost time in production too), set too high to be reached.
RAISED_LIMITS = {
    "RESET_LIMIT_PER_CLIENT": "1000000 per 5 minutes",
    "RESET_LIMIT_PER_ACCOUNT": "1000000 per 15 minutes",
    "LOGIN_LIMIT_PER_CLIENT": "1000000 per 5 minutes",
}


def prepare(instance: Path):
    """An app on a fresh instance folder: org acme with mail settings, user alice; CSRF on, limits raised."""
    from exastro_mail import create_app
    from exastro_mail.auth import accounts
    from exastro_mail.mailserver.store import save_settings
    from exastro_mail.store import migrations

    app = create_app({"INSTANCE_PATH": str(instance), "BASE_URL": "http://127.0.0.1:8000", **RAISED_LIMITS})
    with app.app_context():
        migrations.migrate()
        organization = accounts.create_organization(ORG, "ACME Corp")
        accounts.create_user(organization, "alice", EMAIL, "correct horse battery staple")
        values = {
            "smtp_host": "127.0.0.1",
            "smtp_port": 2525,
            "encryption": "none",
            "authentication_enable": False,
            "send_from": "noreply@example.com",
        }
        save_settings(organization, values, actor="bench")
    app.extensions["exastro_mail.db"].close()
    return app


def request_once(app, environ_args: dict) -> int:
    """One request through the WSGI app, as gunicorn would call it, outside any app context."""
    status = []
    environ = EnvironBuilder(**environ_args).get_environ()
    body = app.wsgi_app(environ, lambda s, headers, exc_info=None: status.append(s))
    with contextlib.closing(body) if hasattr(body, "close") else contextlib.nullcontext():
        b"".join(body)
    return int(status[0].split()[0])


def forgot_post_args(app) -> dict:
    """A forgot-password POST with a valid session cookie and CSRF token, as a browser sends it."""
    client = app.test_client()
    page = client.get(f"/{ORG}/forgot-password")
    html = page.get_data(as_text=True)
    token = html.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    return {
        "path": f"/{ORG}/forgot-password",
        "method": "POST",
        "headers": {"Host": "127.0.0.1:8000", "Cookie": cookie},
        "data": f"csrf_token={quote(token)}&identifier={quote(EMAIL)}",
        "content_type": "application/x-www-form-urlencoded",
    }


def flask_ceiling_app():
    """The benchmark's Flask ceiling, in-process."""
    sys.path.insert(0, str(REPO / "bench" / "peers"))
    from flask_ceiling.app import create_app

    return create_app(secret_key=os.urandom(16).hex())


def hot_paths(app) -> dict:
    return {
        "login page GET": ({"path": f"/{ORG}/login", "headers": {"Host": "127.0.0.1:8000"}}, 200),
        "forgot-password page GET": (
            {"path": f"/{ORG}/forgot-password", "headers": {"Host": "127.0.0.1:8000"}},
            200,
        ),
        "forgot-password POST": (forgot_post_args(app), 200),
    }


def time_batch(app, args: dict, expected: int, count: int) -> tuple[float, float]:
    """(wall, CPU) time per request over count requests, in ms."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        status = request_once(app, args)
        if status != expected:
            raise SystemExit(f"{args['path']} answered {status}, not {expected}")
    return (time.perf_counter() - wall) / count * 1000, (time.process_time() - cpu) / count * 1000


def compare(app, args: dict, expected: int, change, count: int, pairs: int = 7) -> dict:
    """Wall and CPU ms per request as is and with the change; batches alternate, so noise hits both."""
    as_is, changed = [], []
    for _ in range(pairs):
        as_is.append(time_batch(app, args, expected, max(count // pairs, 1)))
        with change(app):
            changed.append(time_batch(app, args, expected, max(count // pairs, 1)))
    return {
        "wall": (statistics.median(w for w, _ in as_is), statistics.median(w for w, _ in changed)),
        "cpu": (statistics.median(c for _, c in as_is), statistics.median(c for _, c in changed)),
    }


# --- what-if: candidate changes applied in-process, never in the product ------------------------------


@contextlib.contextmanager
def no_session_protection(app):
    """What if Flask-Login's session protection were off (it writes _fresh=False into anonymous sessions)."""
    from exastro_mail.extensions import login_manager

    before = login_manager.session_protection
    login_manager.session_protection = None
    try:
        yield
    finally:
        login_manager.session_protection = before


WHAT_IFS = [
    ("Flask-Login session protection off", no_session_protection),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per measurement (default 500)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "exastro-profile")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    args.out.mkdir(parents=True, exist_ok=True)
    timers = PartTimers()
    install_timers(timers)
    work = Path(tempfile.mkdtemp(prefix="exastro-profile-"))
    app = prepare(work / "instance")
    paths = hot_paths(app)

    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        + "/".join(f"{x:.2f}" for x in os.getloadavg())
    )
    for name, (request_args, _expected) in paths.items():
        for _ in range(200):
            request_once(app, request_args)
        timers.reset()
        count = args.requests
        started = time.perf_counter()
        for _ in range(count):
            request_once(app, request_args)
        total_ms = (time.perf_counter() - started) / count * 1000
        print(
            f"\n## {name}: {total_ms:.3f} ms per request in-process with timers "
            f"({count} requests; the timers add a little)\n"
        )
        print("| part | ms per request | share | calls per request |")
        print("| --- | ---: | ---: | ---: |")
        accounted = 0.0
        for part, seconds in sorted(timers.exclusive.items(), key=lambda item: -item[1]):
            ms = seconds / count * 1000
            accounted += ms
            print(f"| {part} | {ms:.3f} | {ms / total_ms:.0%} | {timers.calls[part] / count:g} |")
        rest = total_ms - accounted
        print(
            f"| everything else (Flask/Werkzeug request and response, routing, view code) | {rest:.3f} | "
            f"{rest / total_ms:.0%} | |"
        )

    timers.restore()
    app = prepare(work / "instance-untimed")  # bound after the timers are gone
    paths = hot_paths(app)
    print("\n## what-if: each candidate change applied alone, in-process")
    print("\nBatches of the app as is and with the change alternate; ms per request, medians of 7 batches.")
    print(
        "CPU time is this process's own, so other load on the machine disturbs it far less than wall time.\n"
    )
    names = list(paths)
    print("| change | " + " | ".join(f"{n}: CPU ms | {n}: wall ms" for n in names) + " |")
    print("| --- | " + " | ".join("---: | ---:" for _ in names) + " |")

    for label, change in WHAT_IFS:
        cells = []
        for name in names:
            result = compare(app, *paths[name], change, args.requests)
            for as_is, changed in (result["cpu"], result["wall"]):
                cells.append(f"{as_is:.2f} -> {changed:.2f} ({(changed - as_is) / as_is:+.0%})")
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

    ceiling = flask_ceiling_app()
    login_args = {"path": f"/{ORG}/login", "headers": {"Host": "127.0.0.1:8000"}}
    ours_ms, ceiling_ms = [], []
    for _ in range(7):
        ours_ms.append(time_batch(app, *paths["login page GET"], max(args.requests // 7, 1)))
        ceiling_ms.append(time_batch(ceiling, login_args, 200, max(args.requests // 7, 1)))
    print("\n## the same harness on the Flask ceiling (bench/peers/flask_ceiling), login page GET\n")
    print("| app | CPU ms per request | wall ms per request |")
    print("| --- | ---: | ---: |")
    for label, values in (("exastro-mail as is", ours_ms), ("Flask ceiling", ceiling_ms)):
        cpu = statistics.median(c for _, c in values)
        wall = statistics.median(w for w, _ in values)
        print(f"| {label} | {cpu:.2f} | {wall:.2f} |")

    for name, (request_args, _expected) in paths.items():
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(args.requests):
            request_once(app, request_args)
        profiler.stop()
        stem = name.replace(" ", "-").replace("/", "")
        (args.out / f"{stem}.html").write_text(profiler.output_html())
        (args.out / f"{stem}.txt").write_text(profiler.output_text(unicode=False, color=False))
        print(f"\npyinstrument profile of {args.requests} x {name}: {args.out / (stem + '.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
