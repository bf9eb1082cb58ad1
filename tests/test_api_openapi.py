"""docs/openapi.yaml tells the truth: generated calls, valid and invalid, get the answers it describes.

Schemathesis sends each operation examples, boundary cases and random (also schema-breaking) input
through the real app with an admin's API token; any 500, undocumented status or answer that does not
match its schema fails the test.
"""

from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from exastro_mail.api.results import MESSAGES
from exastro_mail.api_tokens.tokens import issue_token
from tests.api_helpers import EXASTRO_SETTINGS, bearer
from tests.conftest import build_app, make_org, make_user

DESCRIPTION = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"

CONFIG = SchemathesisConfig.from_dict(
    {
        "parameters": {"org_id": "acme"},
        "generation": {"mode": "all"},
        "checks": {
            # Schema-valid input can still break the rules (a host that does not parse): 400 is right.
            "positive_data_acceptance": {"enabled": False},
        },
    }
)


schema = schemathesis.openapi.from_path(DESCRIPTION, config=CONFIG)


@pytest.fixture(scope="module")
def described_app(tmp_path_factory):
    """One app for every generated call, and an admin's token (failed auth is not limited here: the
    checks send many calls without credentials on purpose)."""
    app = build_app(tmp_path_factory.mktemp("openapi"), API_AUTH_LIMIT_PER_CLIENT="100000 per minute")
    with app.app_context():
        organization = make_org()
        admin = make_user(organization, "admin", admin=True)
        _token, secret = issue_token(organization, admin, "schemathesis")
        client = app.test_client()
        registered = client.post(
            "/api/acme/platform/settings/mailserver", json=EXASTRO_SETTINGS, headers=bearer(secret)
        )
        assert registered.status_code == 200
    return app, bearer(secret)


def test_the_description_lists_every_operation():
    operations = {
        f"{op.method.upper()} {op.path}" for op in (result.ok() for result in schema.get_all_operations())
    }
    assert operations == {
        "GET /api/{org_id}/platform/settings/mailserver",
        "POST /api/{org_id}/platform/settings/mailserver",
        "DELETE /api/{org_id}/platform/settings/mailserver",
        "POST /api/{org_id}/platform/notifications",
        "GET /api/{org_id}/platform/notifications/{notification_id}",
    }


def test_the_description_lists_every_code_the_settings_checks_answer():
    described = yaml.safe_load(DESCRIPTION.read_text())["components"]["responses"]["BadSettings"]
    result = described["content"]["application/json"]["schema"]["allOf"][1]["properties"]["result"]
    assert set(result["enum"]) == set(MESSAGES)


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_described(case, described_app):
    app, headers = described_app
    case.operation.schema.app = app  # so the checks' own probes (a call without credentials) go there too
    case.call_and_validate(app=app, headers=headers)
