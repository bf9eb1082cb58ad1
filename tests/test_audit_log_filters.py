"""An org admin narrows the audit log by what happened, who, a date range and words in the details."""

import json
import re
from datetime import timedelta

import pytest

from exastro_mail.store.models import AuditEvent, utcnow
from tests.conftest import make_org

AUDIT_LOG = "/acme/platform/audit-log"


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def event(org, action, actor="admin", days_ago=0, **detail):
    return AuditEvent.create(
        organization=org,
        actor=actor,
        action=action,
        detail=json.dumps(detail, sort_keys=True) if detail else None,
        created_at=utcnow() - timedelta(days=days_ago, minutes=1),
    )


def shown(html):
    """(action, actor) of each row, in order."""
    rows = re.findall(r'<tr data-action="([\w.]+)">\s*<td>.*?</td>\s*<td>(.*?)</td>', html, re.S)
    return [(action, actor.replace("<wbr>", "")) for action, actor in rows]


def test_filter_by_action_and_by_who(admin_client, org):
    event(org, "api_token.created", actor="alice", name="CI")
    event(org, "api_token.created", actor="bob", name="Backup")
    event(org, "notification.queued", actor="alice", notification_id=1)
    html = admin_client.get(AUDIT_LOG + "?action=api_token.created").get_data(as_text=True)
    assert shown(html) == [("api_token.created", "bob"), ("api_token.created", "alice")]  # newest first
    assert '<option value="api_token.created" selected>API token created</option>' in html
    html = admin_client.get(AUDIT_LOG + "?who=alice").get_data(as_text=True)
    assert shown(html) == [("notification.queued", "alice"), ("api_token.created", "alice")]
    assert 'id="audit-log-who" class="filter-text" value="alice"' in html
    both = admin_client.get(AUDIT_LOG + "?who=alice&action=notification.queued").get_data(as_text=True)
    assert shown(both) == [("notification.queued", "alice")]
    nobody = admin_client.get(AUDIT_LOG + "?who=mallory").get_data(as_text=True)
    assert "Nothing recorded matches these filters." in nobody
    assert len(shown(admin_client.get(AUDIT_LOG + "?action=bogus").get_data(as_text=True))) == 4


def test_search_the_details_in_any_case_and_with_wildcards_taken_literally(admin_client, org):
    event(org, "mail_server_settings.test_mail", recipient="Ops@Example.net", result="failed")
    event(org, "mail_server_settings.test_mail", recipient="dev@example.org", result="accepted")
    event(org, "api_token.created", name="100% sure_thing")
    event(org, "api_token.created", name="日本語のトークン")
    hits = shown(admin_client.get(AUDIT_LOG + "?q=ops@example").get_data(as_text=True))
    assert hits == [("mail_server_settings.test_mail", "admin")]
    assert len(shown(admin_client.get(AUDIT_LOG + "?q=%25").get_data(as_text=True))) == 1  # only "100%"
    assert len(shown(admin_client.get(AUDIT_LOG + "?q=e_t").get_data(as_text=True))) == 1  # sure_thing only
    html = admin_client.get(AUDIT_LOG + "?q=日本語").get_data(as_text=True)
    assert "日本語のトークン" in html and len(shown(html)) == 1


def test_a_date_range_in_days_and_the_filters_kept_while_paging(admin_client, org):
    for n in range(30):
        event(org, "notification.queued", actor="robot", days_ago=3, notification_id=n)
    event(org, "notification.queued", actor="robot", days_ago=10, notification_id=99)
    day = (utcnow() - timedelta(days=3, minutes=1)).date().isoformat()
    html = admin_client.get(f"{AUDIT_LOG}?from={day}&to={day}&who=robot").get_data(as_text=True)
    assert len(shown(html)) == 25 and "Notification:</span> 99" not in html
    older = re.search(r'<a href="([^"]+)"[^>]*id="audit-log-older"', html).group(1).replace("&amp;", "&")
    assert f"from={day}" in older and f"to={day}" in older and "who=robot" in older
    rest = admin_client.get(older).get_data(as_text=True)
    assert len(shown(rest)) == 5 and "Notification:</span> 99" not in rest
    assert 'id="audit-log-older"' not in rest


def test_another_organizations_events_never_match(admin_client, org):
    other = make_org("globex", "Globex")
    event(other, "api_token.created", actor="hank", name="secret project")
    assert shown(admin_client.get(AUDIT_LOG + "?who=hank").get_data(as_text=True)) == []
    assert shown(admin_client.get(AUDIT_LOG + "?q=secret").get_data(as_text=True)) == []
