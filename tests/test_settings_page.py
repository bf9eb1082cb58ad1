"""The settings page's shape, server side: sections, markers, the inline check, IDN names, the delete
dialog's markup, the translated step details and the organization's menu."""

import re
from pathlib import Path

import pytest

from exastro_mail.mailserver.fields import FIELDS
from exastro_mail.mailserver.forms import MailServerForm
from exastro_mail.mailserver.sections import CHECKED_INLINE, SECTIONS, marker
from exastro_mail.mailserver.step_details import shown_step_detail
from tests.conftest import VALID_SETTINGS

URL = "/acme/platform/settings/mailserver"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def test_every_field_is_in_exactly_one_section_in_declared_order():
    names = [name for _id, _title, fields in SECTIONS for name in fields]
    assert names == list(FIELDS)


def test_markers_say_required_where_a_value_is_needed():
    assert marker(FIELDS["smtp_host"], stored=False) == "required"
    assert marker(FIELDS["authentication_user"], stored=False) == "required"  # while its rows are shown
    assert marker(FIELDS["authentication_password"], stored=True) == "optional"  # blank keeps it
    assert marker(FIELDS["reply_to"], stored=False) == "optional"
    assert marker(FIELDS["encryption"], stored=False) is None


def test_an_empty_page_says_not_configured_and_has_no_danger_zone(admin_client):
    html = admin_client.get(URL).get_data(as_text=True)
    assert 'id="not-configured"' in html and "password reset by mail and notifications are off" in html
    assert 'id="danger-zone"' not in html
    assert re.findall(r"<legend>([^<]+)</legend>", html)[:1] == ["Server"]


def test_registered_settings_end_with_the_danger_zone(admin_client):
    admin_client.post(URL, data=VALID_SETTINGS)
    html = admin_client.get(URL).get_data(as_text=True)
    assert 'id="not-configured"' not in html
    assert html.index('id="danger-zone"') > html.index('id="send-test-mail"')


def test_a_failed_register_shows_a_summary_linking_to_each_field(admin_client):
    html = admin_client.post(URL, data={**VALID_SETTINGS, "smtp_host": "", "encryption": "rot13"}).get_data(
        as_text=True
    )
    summary = re.search(r'<div class="error-summary" id="error-summary".*?</div>', html, re.S).group(0)
    assert 'href="#smtp_host">SMTP server host</a>' in summary
    assert 'href="#encryption-0">Encryption method</a>' in summary
    assert "data-focus-on-load" in summary


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("smtp_port", "0", "Enter a whole number from 1 to 65535."),
        ("smtp_host", "smtp://x", "Enter the host name only"),
        ("send_from", "noreply@", "Add the domain after the @, as in name@example.com."),
        ("reply_to", "Name <a@example.com>", "put the name in the display name field"),
    ],
)
def test_the_inline_check_answers_the_row_marked(admin_client, name, value, message):
    response = admin_client.get(f"{URL}/check/{name}", query_string={name: value}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert html.strip().startswith(f'<div class="field has-error" id="row-{name}"')
    assert message in html and 'aria-invalid="true"' in html
    assert f'hx-get="{URL}/check/{name}"' in html  # the row checks itself again next time
    assert response.headers["Cache-Control"] == "no-store"


def test_the_inline_check_answers_a_clean_row_for_a_good_value(admin_client):
    html = admin_client.get(f"{URL}/check/smtp_port", query_string={"smtp_port": "587"}).get_data(
        as_text=True
    )
    assert 'class="field" id="row-smtp_port"' in html and 'value="587"' in html and "error" not in html


@pytest.mark.parametrize(
    "name", ["authentication_password", "oauth2_client_secret", "trusted_ca_pem", "nope"]
)
def test_secrets_and_pastes_are_never_checked_by_url(admin_client, name):
    assert name not in CHECKED_INLINE
    assert admin_client.get(f"{URL}/check/{name}", query_string={name: "x"}).status_code == 404


def test_the_inline_check_is_for_admins_only(client, plain_user, auth):
    auth.login("bob")
    assert client.get(f"{URL}/check/smtp_port", query_string={"smtp_port": "1"}).status_code == 403


def test_an_internationalized_host_and_domain_show_in_unicode_with_their_punycode(admin_client):
    admin_client.post(
        URL, data={**VALID_SETTINGS, "smtp_host": "smtp.bücher.example", "reply_to": "a@bücher.example"}
    )
    html = admin_client.get(URL).get_data(as_text=True)
    assert 'value="smtp.bücher.example"' in html and 'value="a@bücher.example"' in html
    assert "Stored as smtp.xn--bcher-kva.example (punycode)." in html
    assert "Stored as a@xn--bcher-kva.example (punycode)." in html


def test_the_delete_dialog_leaks_no_none_and_no_second_csrf_id(admin_client):
    admin_client.post(URL, data=VALID_SETTINGS)
    dialog = admin_client.get(f"{URL}/delete", headers={**HTMX, "HX-Target": "delete-dialog"}).get_data(
        as_text=True
    )
    assert "None" not in dialog and 'id="csrf_token"' not in dialog  # the browser test sees the token
    answer = admin_client.post(
        f"{URL}/delete", data={"confirmation": "nope"}, headers={**HTMX, "HX-Target": "delete-dialog"}
    ).get_data(as_text=True)
    assert 'aria-describedby="confirmation-error"' in answer and 'aria-invalid="true"' in answer


@pytest.mark.parametrize(
    ("detail", "japanese"),
    [
        ("connected to 127.0.0.1 port 2525 in 0 ms", "127.0.0.1 のポート 2525 に接続しました（0 ms）"),
        ("message sent (804 bytes)", "メッセージを送信しました（804 バイト）"),
        (
            "greeting 220 mx ESMTP; extensions: SIZE 1000, 8BITMIME",
            "グリーティング 220 mx ESMTP、拡張機能: SIZE 1000, 8BITMIME",
        ),
        ("accepted for mailer with PLAIN", "mailer として PLAIN で認証されました"),
        (
            "TLSv1.3, certificate for mx.example issued by CA, verified",
            "TLSv1.3、CA が発行した mx.example の証明書を検証しました",
        ),
        ("250 2.0.0 OK queued", "250 2.0.0 OK queued"),  # the server's own words stay
    ],
)
def test_step_details_are_said_in_japanese(app, detail, japanese):
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert shown_step_detail(detail) == japanese
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert shown_step_detail(detail) == detail


def test_the_side_menu_groups_the_organizations_settings_as_exastro_does(admin_client):
    html = admin_client.get(URL).get_data(as_text=True)
    menu = re.search(r'<nav class="side-menu".*?</nav>', html, re.S).group(0)
    group = re.search(r"<h2[^>]*>Organization settings</h2>\s*<ul[^>]*>(.*?)</ul>", menu, re.S).group(1)
    assert f'<a href="{URL}" aria-current="page">Mail sending server settings</a>' in group
    assert menu.index("Mail sending server settings") < menu.index("Audit log")


def test_the_menu_page_has_no_side_menu_and_a_user_sees_no_settings(client, plain_user, auth):
    auth.login("bob")
    html = client.get("/acme/platform/").get_data(as_text=True)
    assert "side-menu" not in html and "Organization settings" not in html


def test_every_conditional_run_of_rows_is_hidden_by_the_stylesheet_without_javascript(admin_client):
    css = (Path(__file__).parent.parent / "static" / "css" / "app.css").read_text()
    html = admin_client.get(URL).get_data(as_text=True)
    for _id, _title, runs in MailServerForm.sections():
        for rows_id, run in runs:
            for name, values in MailServerForm.shown_when(run[0]):
                wanted = f"when-{name}" + "".join(f"-{value}" for value in values)
                assert re.search(rf'id="{rows_id}"', html) and wanted in html
                assert re.search(rf"\.{wanted}[,\s{{]", css), wanted
