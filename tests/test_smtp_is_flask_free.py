"""smtp/ speaks SMTP and returns facts; it needs neither Flask, nor translations, nor the database."""

import pytest

from tests.import_helpers import modules_pulled_in


@pytest.mark.parametrize(
    "module", ["exastro_mail.smtp.transport", "exastro_mail.smtp.diagnose", "exastro_mail.smtp.hosts"]
)
def test_the_smtp_package_needs_no_flask_translations_or_database(module):
    assert modules_pulled_in(module, "exastro_mail.smtp") == []
