"""/metrics as a Prometheus server scrapes it: off without EXASTRO_MAIL_METRICS_TOKEN, only for the
bearer of the token, the sum of every process of `exastro-mail serve --workers 2` and its outbox worker,
and never an address or a secret."""

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exastro_mail.config import ConfigError
from tests.conftest import LOOPBACK_ALLOWED, build_app, make_org
from tests.outbox_helpers import SMTP_PASSWORD, point_settings_at
from tests.test_oauth_tokens import CLIENT_SECRET, client_credentials, token_failure
from tests.test_serve_under_attack import EXASTRO_MAIL
from tests.test_worker_processes import Processes, free_port, queue_notifications, wait_until

TOKEN = "scraper-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def get(url: str, headers=None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:  # not listening yet
        return 0, ""


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of every sample of a scrape."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


@pytest.fixture
def served(tmp_path, smtp_server):
    """`exastro-mail serve --workers 2` with its outbox worker and metrics on; org acme mails through
    smtp_server and has two notifications queued."""
    app = build_app(tmp_path)
    with app.app_context():
        organization = make_org()
        point_settings_at(app, organization, smtp_server, authentication_password=SMTP_PASSWORD)
        queue_notifications(organization, 2)
    port = free_port()
    env = {
        **os.environ,
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "instance"),
        "EXASTRO_MAIL_BASE_URL": f"http://127.0.0.1:{port}",
        "EXASTRO_MAIL_WORKER_POLL_SECONDS": "0.05",
        "EXASTRO_MAIL_METRICS_TOKEN": TOKEN,
        "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,  # the test's SMTP server is on loopback
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    processes = Processes(tmp_path)
    processes.start([EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "2"], env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: get(base + "/healthz")[0] == 200, 20, "the server to answer")
    yield base, smtp_server
    processes.stop_all()
    assert "Traceback" not in processes.all_output()


def test_a_scraper_with_the_token_sees_every_process_counted_and_no_address_or_secret(served, tmp_path):
    base, smtp_server = served
    # The outbox worker runs beside the suite's other engines: on a busy machine it may take
    # a while to start; what is checked is what it counts, not how soon.
    smtp_server.wait_for(2, timeout=30)
    # Four clients at once: both gunicorn workers answer some of the 40 page views.
    threads = [
        threading.Thread(target=lambda: [get(base + "/acme/login") for _ in range(10)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def delivered():
        return (
            value(
                samples(get(base + "/metrics", BEARER)[1]),
                "exastro_mail_deliveries_total",
                organization="acme",
                result="sent",
            )
            == 2
        )

    wait_until(delivered, 10, "the outbox worker's deliveries to be counted")
    scrapes = [get(base + "/metrics", BEARER) for _ in range(4)]  # whichever worker answers

    assert {status for status, _ in scrapes} == {200}
    for _, text in scrapes:
        scraped = samples(text)
        assert value(scraped, "exastro_mail_deliveries_total", organization="acme", result="sent") == 2
        assert (
            value(
                scraped,
                "exastro_mail_http_request_duration_seconds_count",
                endpoint="auth.login",
                status="2xx",
            )
            == 40
        )
        assert value(scraped, "exastro_mail_database_up") == 1
        assert value(scraped, "exastro_mail_outbox_oldest_due_seconds") == 0
        assert "@" not in text and TOKEN not in text and SMTP_PASSWORD not in text
    counted_by = list((tmp_path / "instance" / "metrics").glob("histogram_*.db"))
    assert len(counted_by) == 2  # one file per gunicorn worker, added up at each scrape


def test_a_scraper_without_the_right_token_is_refused(tmp_path):
    client = build_app(tmp_path, METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers=BEARER).status_code == 200


def test_without_a_metrics_token_there_is_no_metrics_page(client):
    assert client.get("/metrics", headers=BEARER).status_code == 404


def test_a_wrong_token_is_told_which_scheme_to_use_in_the_readers_language(tmp_path):
    client = build_app(tmp_path, METRICS_TOKEN=TOKEN).test_client()
    refused = client.get("/metrics", headers={"Authorization": "Bearer x", "Accept-Language": "ja"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert "認証情報が必要" in refused.get_data(as_text=True)


@pytest.mark.parametrize("token", ["short", 12345])
def test_a_metrics_token_too_short_to_be_secret_stops_start_up(tmp_path, token):
    with pytest.raises(ConfigError, match="EXASTRO_MAIL_METRICS_TOKEN"):
        build_app(tmp_path, METRICS_TOKEN=token)


def test_mail_waiting_in_the_outbox_shows_as_depth_and_the_age_of_the_oldest_due(tmp_path):
    app = build_app(tmp_path, METRICS_TOKEN=TOKEN)
    with app.app_context():
        queue_notifications(make_org(), 3)
    scraped = samples(app.test_client().get("/metrics", headers=BEARER).get_data(as_text=True))
    assert value(scraped, "exastro_mail_outbox_messages", status="queued", kind="notification") == 3
    assert value(scraped, "exastro_mail_outbox_oldest_due_seconds") >= 0


def test_a_failed_token_request_is_counted_by_host_without_the_secret(tmp_path, token_endpoint, https_client):
    app = build_app(tmp_path, METRICS_TOKEN=TOKEN)
    client = app.test_client()

    def failures():
        scraped = samples(client.get("/metrics", headers=BEARER).get_data(as_text=True))
        return (
            value(scraped, "exastro_mail_oauth_token_failures_total", host="127.0.0.1", kind="refused") or 0
        )

    before = failures()
    token_endpoint.fail_next(401, body={"error": "invalid_client", "error_description": "AADSTS7000215"})
    token_failure(client_credentials(token_endpoint), https_client)

    assert failures() == before + 1
    assert CLIENT_SECRET not in client.get("/metrics", headers=BEARER).get_data(as_text=True)


def test_the_first_requests_of_a_threaded_worker_all_count():
    """gthread workers answer requests at once: the metrics must be made once, whoever comes first."""
    script = (
        "import threading\n"
        "from exastro_mail import metrics_registry as m\n"
        "gate = threading.Barrier(8)\n"
        "failed = []\n"
        "def answer():\n"
        "    gate.wait()\n"
        "    try:\n"
        "        m.request_answered('auth.login', 200, 0.01)\n"
        "    except Exception as error:\n"
        "        failed.append(repr(error))\n"
        "threads = [threading.Thread(target=answer) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "from prometheus_client import REGISTRY\n"
        "count = REGISTRY.get_sample_value('exastro_mail_http_request_duration_seconds_count',"
        " {'endpoint': 'auth.login', 'status': '2xx'})\n"
        "print(failed, count)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    for _ in range(5):  # the race needs the threads to meet inside the first call
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[] 8.0"
