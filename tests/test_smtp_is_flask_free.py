"""smtp/ speaks SMTP and returns facts; it needs neither Flask, nor translations, nor the database."""

import json
import subprocess
import sys
from pathlib import Path


def test_the_smtp_package_imports_without_flask_or_the_database():
    code = (
        # The package's own __init__ builds the Flask app, so it is replaced by an empty package first.
        "import sys, types; package = types.ModuleType('exastro_mail'); package.__path__ = ['exastro_mail'];"
        "sys.modules['exastro_mail'] = package;"
        "import exastro_mail.smtp.transport, exastro_mail.smtp.diagnose, exastro_mail.smtp.hosts;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('flask', 'flask_babel', 'babel', 'peewee', 'werkzeug') or m.startswith('exastro_mail.') and"
        " not m.startswith('exastro_mail.smtp')))"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )

    assert json.loads(result.stdout.replace("'", '"')) == []
