"""Locust traffic for bench/load.py: one kind of user, a browser that has logged in, plus a tool's API calls.

bench/load.py starts the servers, prepares the organization and runs this file headless; it passes what
the users need in the environment:

    EXASTRO_LOAD_INSTANCES  base URLs of the instances, comma-separated (http://127.0.0.1:8001,...)
    EXASTRO_LOAD_ORG        the organization (its admin is `admin`, its users user0 ... userN-1)
    EXASTRO_LOAD_PASSWORD   the password of admin and of every user
    EXASTRO_LOAD_USERS      how many userN accounts exist (forgot-password forms name them)
    EXASTRO_LOAD_TOKEN      an API token of the organization (Bearer)
    EXASTRO_LOAD_SMTP_PORT  the port the settings save keeps pointing at (the local SMTP server)
    EXASTRO_LOAD_RESULT     where to write the final statistics (JSON) when locust quits

Each user logs in once (the login page, then the form with its CSRF token; the session cookie is kept
as a browser keeps it) and then, with no pause, picks by weight: the login page (30), a login (2, a
real password check), the settings page (20), a settings save (5), a forgot-password form (15, half
for existing accounts) and an API notification with the Bearer token (28). Each request goes to the
next instance in turn, starting at a random one, as a round-robin load balancer sends them: the
cookie is good on every instance. Form posts carry the CSRF token of the last page that had one; a
login gives the session a new token, so after each login the user reads the settings page again before
its next form, as a browser would have the page it lands on (under "after login: settings page", apart
from the mix).

A request counts as a failure when the answer is not the expected status (redirects are not
followed) or there is none. The first login of each user is recorded under "start: ..." names.

The final statistics are taken from locust's own (environment.stats) when it quits: its CSV files are
rewritten once a second and not at the end, so they miss the last second of a run.
"""

import json
import os
import random
import re
from urllib.parse import urlencode

from locust import FastHttpUser, constant, events, task
from locust.stats import StatsEntry, StatsError

CSRF = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')
INSTANCES = [url.rstrip("/") for url in os.environ.get("EXASTRO_LOAD_INSTANCES", "").split(",") if url]
ORG = os.environ.get("EXASTRO_LOAD_ORG", "example")
PASSWORD = os.environ.get("EXASTRO_LOAD_PASSWORD", "")
USERS = int(os.environ.get("EXASTRO_LOAD_USERS", "1"))
API_TOKEN = os.environ.get("EXASTRO_LOAD_TOKEN", "")
SMTP_PORT = os.environ.get("EXASTRO_LOAD_SMTP_PORT", "25")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# kind: (task weight, statuses that count as success); bench/load.py prints them in this order
MIX = {
    "login page": (30, {200}),
    "login": (2, {302}),
    "settings page": (20, {200}),
    "settings save": (5, {200, 303}),
    "forgot password": (15, {200}),
    "API notification": (28, {202}),
}


class MixedTrafficUser(FastHttpUser):
    """A logged-in browser (cookie and CSRF token) that also sends API notifications."""

    wait_time = constant(0)  # closed loop: the next request as soon as the answer is in
    host = INSTANCES[0] if INSTANCES else None

    def on_start(self):
        self.instances = INSTANCES or [self.host.rstrip("/")]
        self.turn = random.randrange(len(self.instances))
        self.token = ""
        self.send("start: login page", "GET", f"/{ORG}/login", {200})
        fields = {"username": "admin", "password": PASSWORD}
        self.send("start: login", "POST", f"/{ORG}/login", {302}, form=fields)

    def post(self, name: str, path: str, expected: set, form: dict):
        """A form post with the session's current CSRF token."""
        if self.token is None:  # logged in since the last page read: that token is gone
            self.send("after login: settings page", "GET", f"/{ORG}/platform/settings/mailserver", {200})
        self.send(name, "POST", path, expected, form=form)

    def send(self, name: str, method: str, path: str, expected: set, form: dict | None = None, **kwargs):
        self.turn = (self.turn + 1) % len(self.instances)
        if form is not None:
            kwargs["data"] = urlencode({**form, "csrf_token": self.token})
            kwargs["headers"] = FORM
        url = self.instances[self.turn] + path
        with self.client.request(
            method, url, name=name, catch_response=True, allow_redirects=False, **kwargs
        ) as response:
            status = response.status_code
            if status in expected:
                response.success()
            elif not status:
                response.failure(f"no answer ({type(getattr(response, 'error', None)).__name__})")
            else:
                response.failure(f"HTTP {status}")
            if method == "POST" and path.endswith("/login") and status == 302:
                self.token = None  # a login gives the session a new CSRF token (auth/sessions.py)
            if method == "GET" and status == 200:
                found = CSRF.search(response.content or b"")
                if found:
                    self.token = found.group(1).decode()

    @task(MIX["login page"][0])
    def login_page(self):
        self.send("login page", "GET", f"/{ORG}/login", MIX["login page"][1])

    @task(MIX["login"][0])
    def login(self):
        fields = {"username": "admin", "password": PASSWORD}
        self.post("login", f"/{ORG}/login", MIX["login"][1], fields)

    @task(MIX["settings page"][0])
    def settings_page(self):
        self.send("settings page", "GET", f"/{ORG}/platform/settings/mailserver", MIX["settings page"][1])

    @task(MIX["settings save"][0])
    def settings_save(self):
        fields = {
            "smtp_host": "127.0.0.1",
            "encryption": "none",
            "smtp_port": SMTP_PORT,
            "send_from": "noreply@example.com",
            "send_name": f"Load test {random.randrange(10)}",
        }
        path = f"/{ORG}/platform/settings/mailserver"
        self.post("settings save", path, MIX["settings save"][1], fields)

    @task(MIX["forgot password"][0])
    def forgot_password(self):
        number = random.randrange(1_000_000)
        who = f"user{number % USERS}" if number % 2 else f"nobody{number}"
        path = f"/{ORG}/forgot-password"
        self.post("forgot password", path, MIX["forgot password"][1], {"identifier": who})

    @task(MIX["API notification"][0])
    def api_notification(self):
        number = random.randrange(1_000_000)
        body = {"to": [f"ops{number}@example.net"], "title": f"Load {number}", "message": "Load test."}
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        path = f"/api/{ORG}/platform/notifications"
        self.send("API notification", "POST", path, MIX["API notification"][1], json=body, headers=headers)


@events.quitting.add_listener
def _save_result(environment, **_kwargs):
    """Requests, failures and p50/p95/p99 (ms) per kind, for the mix as a whole ("all", without the
    "start: ..." requests), and every error with its count, as locust counted them."""
    path = os.environ.get("EXASTRO_LOAD_RESULT")
    if not path:
        return
    stats = environment.stats
    mix = StatsEntry(stats, "all", "")
    kinds = {}
    for entry in stats.entries.values():
        if entry.name in MIX:
            mix.extend(entry)
        kinds[entry.name] = _summary(entry)
    kinds["all"] = _summary(mix)
    errors = [
        {"name": error.name, "error": StatsError.parse_error(error.error), "occurrences": error.occurrences}
        for error in stats.errors.values()
    ]
    seconds = (stats.total.last_request_timestamp or 0) - (stats.total.start_time or 0)
    with open(path, "w") as handle:
        json.dump({"seconds": seconds, "kinds": kinds, "errors": errors}, handle, indent=1)


def _summary(entry: StatsEntry) -> dict:
    percentiles = {f"p{round(q * 100)}": entry.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)}
    return {"requests": entry.num_requests, "failures": entry.num_failures, **percentiles}
