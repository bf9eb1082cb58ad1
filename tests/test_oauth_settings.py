"""An admin sets up OAuth 2.0 or Microsoft Graph on the settings page or through the API, and Send test
mail shows the token step and the provider's words, with a hint in English and Japanese."""

import re
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from exastro_mail.store.models import AuditEvent, MailServerSettings
from tests.api_helpers import EXASTRO_SETTINGS, SETTINGS
from tests.conftest import build_app
from tests.oauth_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    GRAPH_SCOPE,
    MAILBOX,
    SERVICE_ACCOUNT_EMAIL,
    SMTP_SCOPE,
    service_account_key_json,
)
from tests.test_test_mail import HTMX, TEST_URL, outcome_of, steps_of

URL = "/acme/platform/settings/mailserver"


@pytest.fixture
def app(tmp_path, smtp_ca):
    """The app trusting the test CA install-wide (SMTP, token endpoints and Graph alike)."""
    # No app context held around requests: each request has its own, and so its own language.
    return build_app(tmp_path, SMTP_TIMEOUT=2.0, SMTP_CA_FILE=smtp_ca.ca_file)


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def oauth_form(token_endpoint, server, **changes):
    """The settings form filled in for client credentials against the test peers."""
    data = {
        "transport": "smtp",
        "smtp_host": getattr(server, "host", "smtp.office365.com"),
        "smtp_port": str(getattr(server, "port", 587)),
        "encryption": "starttls",
        "graph_url": "https://graph.microsoft.com",
        "authentication_enable": "y",
        "authentication_method": "oauth2_client_credentials",
        "authentication_user": MAILBOX,
        "authentication_password": "",
        "oauth2_token_url": token_endpoint.entra_url(),
        "oauth2_client_id": CLIENT_ID,
        "oauth2_client_secret": CLIENT_SECRET,
        "oauth2_scope": SMTP_SCOPE,
        "oauth2_service_account_key": "",
        "send_from": MAILBOX,
        "send_name": "ACME",
        "reply_to": "",
        "reply_name": "",
        "envelope_from": "",
        "trusted_ca_pem": "",
        "test_recipient": "admin@example.com",
    }
    data.update(changes)
    return data


def graph_form(token_endpoint, graph_server, **changes):
    return oauth_form(
        token_endpoint,
        None,
        transport="microsoft_graph",
        smtp_host="",
        smtp_port="",
        encryption="",
        graph_url=graph_server.url,
        oauth2_scope="",
        **changes,
    )


def api_body(token_endpoint, **changes):
    body = {
        **EXASTRO_SETTINGS,
        "authentication_user": MAILBOX,
        "authentication_password": None,
        "authentication_method": "oauth2_client_credentials",
        "oauth2_token_url": token_endpoint.entra_url(),
        "oauth2_client_id": CLIENT_ID,
        "oauth2_client_secret": CLIENT_SECRET,
        "oauth2_scope": SMTP_SCOPE,
    }
    body.update(changes)
    return body


def stored(app) -> MailServerSettings:
    with app.app_context():
        return MailServerSettings.get()


def hint_of(html):
    match = re.search(r'id="test-mail-hint"[^>]*>(.*?)</p>', html, re.S)
    return match.group(1) if match else None


# ---- the API ----


def test_the_api_takes_oauth_client_credentials_and_never_answers_the_secret(api, token_endpoint):
    response = api.post(SETTINGS, json=api_body(token_endpoint))
    assert response.status_code == 200, response.json
    data = api.get(SETTINGS).json["data"]

    assert data["authentication_method"] == "oauth2_client_credentials"
    assert data["oauth2_token_url"] == token_endpoint.entra_url()
    assert data["oauth2_client_secret_set"] is True
    assert data["authentication_password_set"] is False
    assert data["transport"] == "smtp"
    assert CLIENT_SECRET not in response.get_data(as_text=True)
    assert CLIENT_SECRET not in str(data)


def test_the_api_takes_a_service_account_key_and_shows_only_its_client_email(
    api, token_endpoint, service_account_rsa_key
):
    key = service_account_key_json(service_account_rsa_key, token_endpoint.google_url)
    body = api_body(
        token_endpoint, authentication_method="oauth2_service_account", oauth2_service_account_key=key
    )
    assert api.post(SETTINGS, json=body).status_code == 200
    data = api.get(SETTINGS).json["data"]

    assert data["oauth2_service_account_key_set"] is True
    assert data["oauth2_service_account_client_email"] == SERVICE_ACCOUNT_EMAIL
    assert data["oauth2_client_secret_set"] is False  # switching methods cleared it
    assert "PRIVATE KEY" not in str(data)


# Exastro has no such fields: each falls back to Exastro's code for the same kind of mistake
# (docs/api.md, "Compatibility with Exastro").
@pytest.mark.parametrize(
    "change, field, result, message",
    [
        (
            {"oauth2_token_url": "http://login.microsoftonline.com/x/oauth2/v2.0/token"},
            "oauth2_token_url",
            "400-00027",
            "There is an error in the URL format. (Token URL)",
        ),
        ({"oauth2_client_id": "x" * 256}, "oauth2_client_id", "400-00012", "(item: Client ID,"),
        ({"oauth2_scope": "s" * 1025}, "oauth2_scope", "400-00012", "maximum number of characters: 1024"),
        ({"oauth2_client_secret": None}, "oauth2_client_secret", "400-00011", "(Client secret)"),
        (
            {"authentication_method": "kerberos"},
            "authentication_method",
            "400-00037",
            "Not a value that can be specified. (Authentication method)",
        ),
        ({"transport": "pigeon"}, "transport", "400-00037", "(Sending method)"),
        (
            {"graph_url": "http://graph.microsoft.com", "transport": "microsoft_graph"},
            "graph_url",
            "400-00027",
            "(Graph URL)",
        ),
        (
            {
                "authentication_method": "oauth2_service_account",
                "oauth2_service_account_key": '{"type": "user"}',
            },
            "oauth2_service_account_key",
            "400-00037",
            "(Service account key (JSON))",
        ),
        (
            {
                "transport": "microsoft_graph",
                "authentication_method": "password",
                "authentication_password": "x",
            },
            "authentication_method",
            "400-00037",
            "(Authentication method)",
        ),
    ],
)
def test_the_api_refuses_bad_oauth_values_naming_the_field(
    api, token_endpoint, change, field, result, message
):
    response = api.post(SETTINGS, json=api_body(token_endpoint, **change))

    assert response.status_code == 400
    assert field in response.json["errors"]
    assert (response.json["result"], message in response.json["message"]) == (result, True), response.json
    assert CLIENT_SECRET not in response.get_data(as_text=True)


def test_with_graph_the_smtp_fields_may_be_left_out_and_the_scope_is_graphs(
    api, token_endpoint, graph_server
):
    body = api_body(
        token_endpoint, transport="microsoft_graph", graph_url=graph_server.url, oauth2_scope=None
    )
    for name in ("smtp_host", "smtp_port", "ssl_enable", "start_tls_enable"):
        del body[name]
    response = api.post(SETTINGS, json=body)

    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert (data["transport"], data["smtp_host"], data["oauth2_scope"]) == (
        "microsoft_graph",
        "",  # blank, as Exastro answers a text field it holds nothing for
        GRAPH_SCOPE,
    )


def test_an_exastro_body_without_the_new_fields_works_as_before_and_switches_back_to_a_password(
    app, api, token_endpoint
):
    assert api.post(SETTINGS, json=api_body(token_endpoint)).status_code == 200
    response = api.post(SETTINGS, json=EXASTRO_SETTINGS)

    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert (data["authentication_method"], data["transport"]) == ("password", "smtp")
    assert data["authentication_password_set"] is True
    assert data["oauth2_client_secret_set"] is False
    assert data["oauth2_token_url"] is None
    assert stored(app).oauth2_client_secret_sealed is None


def test_the_stored_client_secret_does_not_follow_a_new_token_url(api, token_endpoint):
    api.post(SETTINGS, json=api_body(token_endpoint))
    moved = api_body(
        token_endpoint,
        oauth2_client_secret="",
        oauth2_token_url="https://evil.example/tenant/oauth2/v2.0/token",
    )
    response = api.post(SETTINGS, json=moved)
    assert (response.status_code, response.json["result"]) == (400, "400-00011")
    assert list(response.json["errors"]) == ["oauth2_client_secret"]

    kept = api.post(SETTINGS, json=api_body(token_endpoint, oauth2_client_secret="", send_name="Kept"))
    assert kept.status_code == 200, kept.json
    assert kept.json["data"]["oauth2_client_secret_set"] is True


@pytest.mark.parametrize(
    "change", [{"smtp_host": "evil.example"}, {"smtp_port": "2525"}, {"authentication_user": "other"}]
)
def test_the_stored_password_does_not_follow_a_new_host_port_or_user(app, api, change):
    api.post(SETTINGS, json=EXASTRO_SETTINGS)
    response = api.post(SETTINGS, json={**EXASTRO_SETTINGS, "authentication_password": "", **change})

    assert (response.status_code, response.json["result"]) == (
        400,
        "400-00032",
    )  # as Exastro's blank password
    assert list(response.json["errors"]) == ["authentication_password"]
    assert stored(app).smtp_host == "smtp.example.com"


def test_auth_without_encryption_is_saved_with_a_warning(api):
    body = {**EXASTRO_SETTINGS, "start_tls_enable": False, "smtp_port": "25"}
    response = api.post(SETTINGS, json=body)

    assert response.status_code == 200
    assert "crosses the network unencrypted" in response.json["warnings"]["encryption"]


# ---- the page ----


def test_the_page_registers_oauth_and_never_shows_the_secret_or_key(
    admin_client, token_endpoint, service_account_rsa_key
):
    response = admin_client.post(URL, data=oauth_form(token_endpoint, None))
    assert response.status_code == 303
    html = admin_client.get(URL).get_data(as_text=True)
    assert CLIENT_SECRET not in html
    assert "A client secret is stored: leave blank to keep it." in html
    shown_when = '[["authentication_enable", []], ["authentication_method", ["oauth2_client_credentials"]]]'
    assert f"data-shown-when='{shown_when}'" in html

    key = service_account_key_json(service_account_rsa_key, token_endpoint.google_url)
    bad = admin_client.post(
        URL,
        data=oauth_form(
            token_endpoint,
            None,
            authentication_method="oauth2_service_account",
            oauth2_service_account_key=key,
            send_from="not an address",
        ),
    )
    assert bad.status_code == 422
    assert "PRIVATE KEY" not in bad.get_data(as_text=True)  # a pasted key is not sent back


def test_switching_to_a_password_clears_the_oauth_secret(app, admin_client, token_endpoint):
    admin_client.post(URL, data=oauth_form(token_endpoint, None))
    switched = oauth_form(
        token_endpoint,
        None,
        authentication_method="password",
        authentication_password="s3cret",
        oauth2_client_secret="",
    )
    assert admin_client.post(URL, data=switched).status_code == 303

    row = stored(app)
    assert (row.authentication_method, row.oauth2_client_secret_sealed, row.oauth2_token_url) == (
        "password",
        None,
        None,
    )
    assert row.authentication_password_sealed is not None
    with app.app_context():
        changed = AuditEvent.select().order_by(AuditEvent.id.desc()).first()
    assert "oauth2_client_secret" in changed.detail and CLIENT_SECRET not in changed.detail


def test_the_page_asks_for_the_password_again_when_the_host_changes(app, admin_client):
    from tests.conftest import VALID_SETTINGS

    admin_client.post(URL, data=VALID_SETTINGS)
    response = admin_client.post(
        URL, data={**VALID_SETTINGS, "smtp_host": "elsewhere.example", "authentication_password": ""}
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert re.search(r'id="authentication_password-error">The host, port or user changed', html)
    assert stored(app).smtp_host == "smtp.example.com"


def test_auth_without_encryption_shows_a_warning_on_the_page(admin_client):
    from tests.conftest import VALID_SETTINGS

    admin_client.post(URL, data={**VALID_SETTINGS, "encryption": "none", "smtp_port": "25"})
    html = admin_client.get(URL).get_data(as_text=True)
    assert re.search(r'id="encryption-warning">With authentication and no encryption', html)


# ---- Send test mail ----


def test_the_test_mail_shows_the_token_step_and_goes_out_over_xoauth2(
    admin_client, token_endpoint, xoauth2_smtp_server_factory
):
    server = xoauth2_smtp_server_factory()
    response = admin_client.post(TEST_URL, data=oauth_form(token_endpoint, server), headers=HTMX)
    html = response.get_data(as_text=True)

    assert response.status_code == 200, html
    assert steps_of(html)[0] == ("Token", "OK")
    assert ("AUTH", "OK") in steps_of(html)
    assert re.search(
        rf"asked {re.escape(token_endpoint.entra_url())} for a token: got one, valid 5[89] min", html
    )
    assert "XOAUTH2 accepted for " + MAILBOX in html
    assert server.wait_for(1)[0].authenticated_user == MAILBOX
    assert CLIENT_SECRET not in html
    for token in token_endpoint.issued:
        assert token not in html


def test_the_test_mail_goes_through_graph_sendmail(admin_client, token_endpoint, graph_server):
    response = admin_client.post(TEST_URL, data=graph_form(token_endpoint, graph_server), headers=HTMX)
    html = response.get_data(as_text=True)

    assert response.status_code == 200, html
    assert [name for name, _result in steps_of(html)] == ["Token", "Graph sendMail", "Accepted"]
    assert graph_server.messages[0].message["To"] == "admin@example.com"
    assert token_endpoint.requests[0]["scope"] == GRAPH_SCOPE


@pytest.mark.parametrize(
    "locale, words",
    [
        ("en", "The client secret is wrong or expired. Make a new one"),
        ("ja", "クライアントシークレット"),
    ],
)
def test_a_wrong_client_secret_fails_at_the_token_step_with_the_providers_words_and_a_hint(
    admin_client, token_endpoint, locale, words
):
    admin_client.set_cookie("locale", locale)
    response = admin_client.post(
        TEST_URL, data=oauth_form(token_endpoint, None, oauth2_client_secret="expired"), headers=HTMX
    )
    html = response.get_data(as_text=True)

    assert "AADSTS7000215" in outcome_of(html)
    assert "invalid_client" in outcome_of(html)
    assert words in hint_of(html)
    assert "expired" not in outcome_of(html).replace("wrong or expired", "")


@pytest.mark.parametrize(
    "setup, step, words_en, words_ja",
    [
        ("no_tenant", "Token", "There is no such tenant", "テナント"),
        ("no_app", "Token", "There is no app with this client ID", "クライアント ID"),
        ("no_delegation", "Token", "Domain-wide delegation", "ドメイン全体の委任"),
        (
            "smtp_auth_off",
            "AUTH",
            "SMTP AUTH is disabled for the mailbox",
            "メールボックスで SMTP AUTH が無効",
        ),
        ("no_mail_send", "Graph sendMail", "Mail.Send was not granted", "Mail.Send が許可されていません"),
    ],
)
@pytest.mark.parametrize("locale", ["en", "ja"])
def test_each_provider_failure_gets_its_hint_in_both_languages(
    admin_client,
    token_endpoint,
    graph_server,
    xoauth2_smtp_server_factory,
    service_account_rsa_key,
    setup,
    step,
    words_en,
    words_ja,
    locale,
):
    server = xoauth2_smtp_server_factory(refuse_all=setup == "smtp_auth_off")
    data = oauth_form(token_endpoint, server)
    if setup == "no_tenant":
        data["oauth2_token_url"] = token_endpoint.entra_url("nowhere.onmicrosoft.com")
    elif setup == "no_app":
        data["oauth2_client_id"] = "11111111-2222-3333-4444-555555555555"
    elif setup == "no_delegation":
        token_endpoint.delegated[SERVICE_ACCOUNT_EMAIL] = set()
        data["authentication_method"] = "oauth2_service_account"
        data["oauth2_service_account_key"] = service_account_key_json(
            service_account_rsa_key, token_endpoint.google_url
        )
    elif setup == "no_mail_send":
        graph_server.granted_mailboxes = set()
        data = graph_form(token_endpoint, graph_server)
    admin_client.set_cookie("locale", locale)
    html = admin_client.post(TEST_URL, data=data, headers=HTMX).get_data(as_text=True)

    failed = [name for name, result in steps_of(html) if result in ("Failed", "失敗")]
    assert len(failed) == 1
    assert (words_en if locale == "en" else words_ja) in hint_of(html)
    if locale == "en":
        assert failed == [step]


class _BasicAuthDisabled:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


@pytest.fixture
def basic_auth_disabled_server():
    """A server answering every password login as Microsoft 365 does now that basic auth is off."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        _BasicAuthDisabled(),
        hostname="127.0.0.1",
        port=port,
        authenticator=lambda *args: AuthResult(
            success=False,
            handled=False,
            message="535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [SMTP.test]",
        ),
        auth_require_tls=False,
    )
    controller.start()
    yield controller
    controller.stop()


@pytest.mark.parametrize(
    "locale, words", [("en", "OAuth 2.0 (client credentials)"), ("ja", "OAuth 2.0 (クライアント資格情報)")]
)
def test_a_password_refused_by_microsoft_365_points_to_oauth(
    admin_client, basic_auth_disabled_server, locale, words
):
    from tests.test_test_mail import form_for, with_auth

    class Where:
        host, port = "127.0.0.1", basic_auth_disabled_server.port

    admin_client.set_cookie("locale", locale)
    html = admin_client.post(TEST_URL, data=with_auth(form_for(Where)), headers=HTMX).get_data(as_text=True)

    assert "5.7.139" in outcome_of(html)
    assert words in hint_of(html)
    assert "Microsoft 365" in hint_of(html)
    # encryption None: the test mail also says the password would have crossed unencrypted
    assert re.search(r'id="test-mail-warning">', html)
