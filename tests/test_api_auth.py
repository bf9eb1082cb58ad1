"""Who may call the API: an org admin with Basic credentials or an API token; never a browser cookie."""

import base64
import json
import statistics
import time
from datetime import timedelta

import pytest

from exastro_mail.api_tokens.tokens import issue_token, revoke_token, token_hash
from exastro_mail.store.models import ApiToken, AuditEvent, User
from tests.api_helpers import EXASTRO_SETTINGS, SETTINGS, basic, bearer
from tests.conftest import build_app, make_org, make_user

CHALLENGES = ['Basic realm="exastro-mail", charset="UTF-8"', 'Bearer realm="exastro-mail"']


def assert_unauthenticated(response, bearer_error=False):
    assert response.status_code == 401
    assert response.json["result"] == "401-00002"
    assert response.json["data"] is None
    expected = list(CHALLENGES)
    if bearer_error:
        expected[1] += ', error="invalid_token"'
    assert response.headers.getlist("WWW-Authenticate") == expected


def test_no_credentials_get_401_with_basic_and_bearer_challenges(client, admin):
    response = client.get(SETTINGS)
    assert_unauthenticated(response)
    assert "Basic" in response.json["message"] and "Bearer" in response.json["message"]


def test_browser_session_cookie_is_not_accepted(client, admin, auth):
    auth.login()
    assert client.get("/acme/platform/").status_code == 200  # the browser session works...
    assert_unauthenticated(client.get(SETTINGS))  # ...but the API ignores it
    assert_unauthenticated(client.delete(SETTINGS))


def test_admin_password_with_basic_auth_works(client, admin):
    response = client.get(SETTINGS, headers=basic("admin"))
    assert response.status_code == 200
    assert response.json["result"] == "000-00000"
    assert "Set-Cookie" not in response.headers


def test_wrong_password_gets_401_and_is_audited_as_a_failed_login(client, admin):
    response = client.get(SETTINGS, headers=basic("admin", "not the password"))
    assert_unauthenticated(response)
    assert response.json["message"] == "The username or password is incorrect."
    event = AuditEvent.get(AuditEvent.action == "login_failed")
    assert event.actor == "admin"
    assert json.loads(event.detail) == {"via": "api"}
    assert "not the password" not in (event.detail or "")


def test_unknown_user_gets_the_same_401(client, admin):
    response = client.get(SETTINGS, headers=basic("mallory", "whatever it is"))
    assert_unauthenticated(response)
    assert response.json["message"] == "The username or password is incorrect."


def test_disabled_admin_gets_401(client, admin):
    User.update(is_enabled=False).where(User.id == admin.id).execute()
    assert_unauthenticated(client.get(SETTINGS, headers=basic("admin")))


def test_plain_user_gets_403(client, plain_user):
    response = client.get(SETTINGS, headers=basic("bob"))
    assert response.status_code == 403
    assert response.json["result"] == "403-00001"


def test_admin_of_another_org_gets_404_with_basic(client, admin):
    globex = make_org("globex", "Globex")
    make_user(globex, "hank", admin=True, password="hank's own password")
    response = client.get(SETTINGS, headers=basic("hank", "hank's own password"))
    assert response.status_code == 404
    assert response.json["result"] == "404-00001"


def test_a_name_taken_here_is_checked_here_only(client, admin):
    # One password check per attempt: with a user of this name here, another organization's password
    # for the same name is just a wrong password.
    globex = make_org("globex", "Globex")
    make_user(globex, "admin", admin=True, password="globex admin password")
    assert_unauthenticated(client.get(SETTINGS, headers=basic("admin", "globex admin password")))
    assert_unauthenticated(client.get("/api/globex/platform/settings/mailserver", headers=basic("admin")))


def test_api_token_works_and_records_its_last_use(client, admin, admin_token):
    token = ApiToken.get()
    assert token.last_used_at is None
    response = client.get(SETTINGS, headers=bearer(admin_token))
    assert response.status_code == 200
    assert ApiToken.get().last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(client, admin, admin_token):
    client.get(SETTINGS, headers=bearer(admin_token))
    first = ApiToken.get().last_used_at
    client.get(SETTINGS, headers=bearer(admin_token))
    assert ApiToken.get().last_used_at == first
    ApiToken.update(last_used_at=first - timedelta(minutes=2)).execute()
    client.get(SETTINGS, headers=bearer(admin_token))
    assert ApiToken.get().last_used_at > first - timedelta(minutes=2)


def test_token_is_stored_only_as_its_sha256(admin, admin_token):
    row = ApiToken.get()
    assert row.token_hash == token_hash(admin_token)
    assert admin_token not in json.dumps(list(ApiToken.select().dicts()), default=str)
    assert admin_token.startswith("exm_") and len(admin_token) == 47


def test_revoked_token_gets_401_invalid_token(client, admin, admin_token):
    revoke_token(ApiToken.get(), "admin")
    response = client.get(SETTINGS, headers=bearer(admin_token))
    assert_unauthenticated(response, bearer_error=True)
    assert "revoked" in response.json["message"]


def test_token_of_another_org_gets_404(client, admin):
    globex = make_org("globex", "Globex")
    hank = make_user(globex, "hank", admin=True)
    _token, secret = issue_token(globex, hank, "globex tool")
    assert client.get(SETTINGS, headers=bearer(secret)).status_code == 404
    assert client.get("/api/globex/platform/settings/mailserver", headers=bearer(secret)).status_code == 200


def test_token_of_an_admin_who_lost_the_role_gets_403(client, admin, admin_token):
    User.update(is_admin=False).where(User.id == admin.id).execute()
    response = client.get(SETTINGS, headers=bearer(admin_token))
    assert response.status_code == 403
    assert response.json["result"] == "403-00001"


def test_token_of_a_disabled_admin_gets_401(client, admin, admin_token):
    User.update(is_enabled=False).where(User.id == admin.id).execute()
    assert_unauthenticated(client.get(SETTINGS, headers=bearer(admin_token)), bearer_error=True)


def test_unknown_org_gets_404_in_the_envelope(client, admin, admin_token):
    response = client.get("/api/nosuch/platform/settings/mailserver", headers=bearer(admin_token))
    assert response.status_code == 404
    assert response.json["result"] == "404-00001"
    assert response.json["ts"].endswith("Z")


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!",
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic",
        "Bearer",
        "Bearer exm_too-short",
        "Bearer " + "exm_" + "A" * 43,
        "Digest username=admin",
        "admin:correct horse battery",
    ],
)
def test_malformed_or_unknown_credentials_get_401(client, admin, header):
    response = client.get(SETTINGS, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["result"] == "401-00002"


def test_failed_authentications_are_limited_per_client(tmp_path):
    app = build_app(tmp_path, API_AUTH_LIMIT_PER_CLIENT="3 per 5 minutes")
    with app.app_context():
        organization = make_org()
        admin = make_user(organization, "admin", admin=True)
        _token, secret = issue_token(organization, admin, "tool")
    client = app.test_client()
    for _ in range(5):  # successful calls do not count
        assert client.get(SETTINGS, headers=bearer(secret)).status_code == 200
    for _ in range(3):
        assert client.get(SETTINGS, headers=bearer("exm_" + "B" * 43)).status_code == 401
    blocked = client.get(SETTINGS, headers=bearer(secret))
    assert blocked.status_code == 429
    assert blocked.json["result"] == "429-00001"
    assert "Too many failed" in blocked.json["message"]
    elsewhere = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get(SETTINGS, headers=bearer(secret), environ_base=elsewhere).status_code == 200


def test_api_needs_no_csrf_token(csrf_app):
    organization = make_org()
    _token, secret = issue_token(organization, make_user(organization, "admin", admin=True), "tool")
    client = csrf_app.test_client()
    response = client.post(SETTINGS, json=EXASTRO_SETTINGS, headers=bearer(secret))
    assert response.status_code == 200
    assert response.json["result"] == "000-00000"
    assert client.delete(SETTINGS, headers=bearer(secret)).status_code == 200


def test_a_404_for_another_organizations_credentials_counts_as_a_failure(tmp_path):
    app = build_app(tmp_path, API_AUTH_LIMIT_PER_CLIENT="3 per 5 minutes")
    with app.app_context():
        organization = make_org()
        _token, secret = issue_token(organization, make_user(organization, "admin", admin=True), "tool")
        make_user(make_org("globex", "Globex"), "hank", admin=True, password="hank's own password")
    client = app.test_client()
    for _ in range(2):  # hank probing acme with his own, right, password
        assert client.get(SETTINGS, headers=basic("hank", "hank's own password")).status_code == 404
    assert client.get("/api/nosuch/platform/settings/mailserver", headers=bearer(secret)).status_code == 404
    assert client.get(SETTINGS, headers=bearer(secret)).status_code == 429


def test_a_wrong_password_costs_the_same_whether_the_name_exists_here_elsewhere_or_nowhere(tmp_path):
    # A hash that costs tens of milliseconds, so one password check more or less shows in the medians.
    app = build_app(
        tmp_path,
        PASSWORD_HASH_METHOD="pbkdf2:sha256:100000",
        API_AUTH_LIMIT_PER_CLIENT="1000 per minute",
    )
    with app.app_context():
        make_user(make_org(), "admin", admin=True)
        for org_id in ("globex", "initech"):  # the name exists in two other organizations
            make_user(make_org(org_id, org_id.title()), "hank", admin=True)
    client = app.test_client()
    kinds = {"nowhere": "nobody", "elsewhere": "hank", "here": "admin"}
    durations = {kind: [] for kind in kinds}
    # The client runs in this process: its CPU time is the work a request costs, which an attacker sees
    # as time, without the other processes of a busy machine (wall-clock medians failed at 1.37x there).
    for attempt in range(12):  # interleaved, so a busy moment of the machine falls on every kind
        for kind, username in kinds.items():
            started = time.process_time()
            response = client.get(SETTINGS, headers=basic(username, f"wrong password {attempt}"))
            elapsed = time.process_time() - started
            assert response.status_code == 401
            if attempt:  # the first round warms up (the dummy hash is made on first use)
                durations[kind].append(elapsed)
    medians = {kind: statistics.median(values) for kind, values in durations.items()}
    for kind in ("elsewhere", "here"):
        ratio = medians[kind] / medians["nowhere"]
        assert 0.75 < ratio < 1.35, f"{kind} took {ratio:.2f} times as long as nowhere: {medians}"
