"""What instances of one install share: logins (server-side sessions in the database, cookies signed with
the common secret) and, through Redis, rate limit counts."""

import os
import subprocess
import sys

import pytest
import redis

from exastro_mail.store.models import OutboxMessage
from tests.conftest import DEFAULT_PASSWORD, LOOPBACK_ALLOWED, AuthActions, build_app, make_org, make_user
from tests.engine_fixtures import RATELIMIT_KEY_PREFIX
from tests.outbox_helpers import point_settings_at

REDIS_URL = os.environ.get("EXASTRO_MAIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
# One instance: its own process and app, posting forgot-password forms; prints the status codes.
INSTANCE = """
import sys
from exastro_mail import create_app
client = create_app().test_client()
print(" ".join(str(client.post("/acme/forgot-password", data={"identifier": name}).status_code)
               for name in sys.argv[1:]))
"""


def two_instances(tmp_path, **config):
    """Two apps of one install: one database, one secret key, one encryption key."""
    first = build_app(tmp_path / "first", **config)
    second = build_app(
        tmp_path / "second",
        DATABASE_URL=first.config["DATABASE_URL"],
        SECRET_KEY=first.config["SECRET_KEY"],
        ENCRYPTION_KEY=first.config["ENCRYPTION_KEY"],
        **config,
    )
    with first.app_context():
        first.organization = make_org()
        make_user(first.organization, "admin", admin=True)
    return first, second


def test_a_login_works_on_every_instance_and_a_logout_on_one_ends_it_on_all(tmp_path):
    first, second = two_instances(tmp_path)
    on_first, on_second = first.test_client(), second.test_client()
    assert AuthActions(on_first).login("admin", DEFAULT_PASSWORD).status_code == 302
    on_second.set_cookie("session", on_first.get_cookie("session").value)

    assert on_second.get("/acme/platform/").status_code == 200
    assert on_first.get("/acme/platform/").status_code == 200
    assert AuthActions(on_second).logout().status_code == 303
    ended = on_first.get("/acme/platform/")
    assert ended.status_code == 302 and "/acme/login" in ended.headers["Location"]


@pytest.fixture
def redis_url():
    """The test Redis (database 13, or EXASTRO_MAIL_TEST_REDIS_URL), emptied of this run's rate limit
    counts (runs on other engines may share it at the same time: their keys have other prefixes)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is needed in CI: {error}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {error}")

    def forget_counts():
        for key in client.scan_iter(f"LIMITS:*{RATELIMIT_KEY_PREFIX}*"):
            client.delete(key)

    forget_counts()
    yield REDIS_URL
    forget_counts()
    client.close()


def test_instances_share_rate_limits_through_redis(tmp_path, redis_url, smtp_server):
    limits = {"RESET_LIMIT_PER_CLIENT": "5 per minute"}
    first, _second = two_instances(tmp_path, RATELIMIT_STORAGE_URI=redis_url, **limits)
    with first.app_context():
        point_settings_at(first, first.organization, smtp_server)  # the forgot-password form needs them
    env = {
        **os.environ,
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "first" / "instance"),
        "EXASTRO_MAIL_DATABASE_URL": first.config["DATABASE_URL"],
        "EXASTRO_MAIL_BASE_URL": "http://mail.example.test",
        "EXASTRO_MAIL_WTF_CSRF_ENABLED": "false",
        "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,
        "EXASTRO_MAIL_RATELIMIT_STORAGE_URI": redis_url,
        "EXASTRO_MAIL_RATELIMIT_KEY_PREFIX": RATELIMIT_KEY_PREFIX,
        **{f"EXASTRO_MAIL_{name}": value for name, value in limits.items()},
    }

    def instance(*names):
        done = subprocess.run(
            [sys.executable, "-c", INSTANCE, *names], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert instance("admin", "admin") == ["200", "200"]
    # Another process: it knows the two requests above only through Redis.
    assert instance("admin", "nobody", "nobody", "nobody") == ["200", "200", "200", "429"]
    with first.app_context():
        assert OutboxMessage.select().where(OutboxMessage.kind == "password_reset").count() == 5
    client = redis.Redis.from_url(redis_url)
    try:  # every count is under an install's prefix, so two installs can share one Redis database
        keys = [key.decode() for key in client.scan_iter("LIMITS:*")]
        assert any(RATELIMIT_KEY_PREFIX in key for key in keys), keys
        assert all(key.startswith("LIMITS:LIMITER/exastro-test-") for key in keys), keys
    finally:
        client.close()


def test_with_redis_down_each_instance_still_limits_on_its_own(tmp_path, closed_port):
    app = build_app(
        tmp_path,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port}",
        RESET_LIMIT_PER_CLIENT="2 per minute",
    )
    with app.app_context():
        point_settings_at(app, make_org(), None, smtp_host="smtp.example.com", smtp_port=25)
    client = app.test_client()
    answers = [
        client.post("/acme/forgot-password", data={"identifier": "nobody"}).status_code for _ in range(3)
    ]
    assert answers == [200, 200, 429]
