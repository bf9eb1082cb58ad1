"""What importing a package pulls in, seen from a fresh interpreter."""

import json
import subprocess
import sys
from pathlib import Path

FRAMEWORKS = ("flask", "flask_babel", "babel", "peewee", "werkzeug")


def modules_pulled_in(module: str, *allowed: str) -> list[str]:
    """The framework modules, and the exastro_mail modules outside the allowed packages, that importing
    module loads. The package's own __init__ builds the Flask app, so an empty package stands in for it."""
    code = (
        "import sys, types; package = types.ModuleType('exastro_mail'); package.__path__ = ['exastro_mail'];"
        f"sys.modules['exastro_mail'] = package; import {module};"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r} or"
        f" m.startswith('exastro_mail.') and not m.startswith({allowed!r})))"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    return json.loads(result.stdout.replace("'", '"'))
