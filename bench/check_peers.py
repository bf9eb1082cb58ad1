"""Smoke check of the benchmark's peers, run by hand: they still start and serve their forms.

Django is a bench-only extra (`pip install -e '.[bench]'`), so this is not part of the test suite:

    .venv/bin/python bench/check_peers.py

It starts the Flask ceiling and the Django project in-process (test clients, no server), checks that
each login page renders a form with a CSRF field and a Forgot password link, and that Django's
PasswordResetView sends its mail. Exits 1 on the first failure.
"""

import os
import re
import secrets
import sys
import tempfile
from pathlib import Path

PEERS = Path(__file__).resolve().parent / "peers"
EMAIL = "alice@example.com"


def check(condition: bool, what: str) -> None:
    """Print one result line; stop with exit status 1 on a failure."""
    print(f"{'ok  ' if condition else 'FAIL'} {what}")
    if not condition:
        sys.exit(1)


def csrf_field(html: str, name: str) -> bool:
    """Whether the page's form carries a hidden CSRF field of that name with a value."""
    return re.search(rf'<input[^>]*name="{name}"[^>]*value="[^"]+"', html) is not None


def check_flask_ceiling() -> None:
    from flask_ceiling.app import create_app

    client = create_app(secret_key=secrets.token_hex(16)).test_client()
    login = client.get("/acme/login")
    html = login.get_data(as_text=True)
    check(login.status_code == 200 and "<form" in html, "Flask ceiling: /acme/login renders a form")
    check(csrf_field(html, "csrf_token"), "Flask ceiling: the login form has a CSRF field")
    check('name="username"' in html and 'name="password"' in html, "Flask ceiling: username and password")
    check('href="/acme/forgot-password"' in html, "Flask ceiling: the Forgot password link")
    forgot = client.get("/acme/forgot-password")
    check(csrf_field(forgot.get_data(as_text=True), "csrf_token"), "Flask ceiling: forgot-password form")


def check_django(database: Path) -> None:
    os.environ.update(BENCH_DJANGO_DB=str(database), DJANGO_SETTINGS_MODULE="django_site.settings")
    from django_site import prepare

    prepare.main("alice", EMAIL)
    from django.core import mail
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment

    setup_test_environment()  # the locmem mail backend, and the outbox it fills
    client = Client()
    login = client.get("/accounts/login/")
    html = login.content.decode()
    check(login.status_code == 200 and "<form" in html, "Django: /accounts/login/ renders a form")
    check(csrf_field(html, "csrfmiddlewaretoken"), "Django: the login form has a CSRF field")
    check('href="/accounts/password_reset/"' in html, "Django: the password-reset link")
    reset = client.get("/accounts/password_reset/")
    check(csrf_field(reset.content.decode(), "csrfmiddlewaretoken"), "Django: password-reset form")
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        answer = Client(enforce_csrf_checks=False).post("/accounts/password_reset/", {"email": EMAIL})
    check(answer.status_code == 302, "Django: PasswordResetView answers a POST with a redirect")
    check(len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL], "Django: the reset mail went out")


def main() -> int:
    sys.path.insert(0, str(PEERS))
    try:
        import django  # noqa: F401 (only to tell whether the bench extra is installed)
    except ImportError:
        print("Django is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    check_flask_ceiling()
    with tempfile.TemporaryDirectory() as work:
        check_django(Path(work) / "django.sqlite3")
    print("peers ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
