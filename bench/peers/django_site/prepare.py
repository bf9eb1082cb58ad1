"""Prepare the Django peer's SQLite database: migrate, and one user with an email address.

Run as `python -m django_site.prepare USERNAME EMAIL` from bench/peers, with BENCH_DJANGO_DB set.
"""

import os
import secrets
import sys

import django
from django.core.management import call_command


def main(username: str, email: str) -> None:
    """Create the schema and the user whose address the password-reset POSTs name."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")
    django.setup()
    from django.contrib.auth.models import User

    call_command("migrate", verbosity=0, interactive=False)
    if not User.objects.filter(username=username).exists():
        User.objects.create_user(username, email, secrets.token_urlsafe(16))


if __name__ == "__main__":
    main(*sys.argv[1:3])
