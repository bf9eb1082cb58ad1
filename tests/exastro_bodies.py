"""The request bodies of Exastro's own clients and tests (tests/data/exastro/, each naming its source),
and a helper that sends one with a change or two."""

import json
from pathlib import Path

from tests.api_helpers import SETTINGS

DATA = Path(__file__).parent / "data" / "exastro"


def exastro_body(source: str, name: str) -> dict:
    """One body of tests/data/exastro/<source>.json, as Exastro's client or test sends it."""
    return json.loads((DATA / f"{source}.json").read_text(encoding="utf-8"))["bodies"][name]


def exastro_cases(source: str) -> list[dict]:
    """The cases of tests/data/exastro/<source>.json."""
    return json.loads((DATA / f"{source}.json").read_text(encoding="utf-8"))["cases"]


# Exastro's own tests start from these (platform_api/tests/test_organization_setting_service_controller.py).
CREATE = exastro_body("test_data", "create")
UPDATE = exastro_body("test_data", "update")


def changed(body: dict, **changes) -> dict:
    """body with changes; a change to ... leaves the name out, as Exastro's tests pop() it."""
    merged = {**body, **changes}
    return {name: value for name, value in merged.items() if value is not ...}


def post(api, body: dict, language: str | None = None):
    """POST the settings, with Exastro's Language header when given."""
    headers = {"Language": language} if language else None
    return api.post(SETTINGS, json=body, headers=headers)
