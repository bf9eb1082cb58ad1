"""setuptools hook, run whenever the package is built or installed: compile the message catalogs (.po to
.mo) and, for a wheel or a plain install, put the checkout's templates/ and static/ into the package.

setuptools loads this file on its own, before the package's dependencies exist: it imports only
setuptools and Babel (a build requirement), never the rest of exastro_mail.
"""

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools.command.build_py import build_py

PACKAGE = Path(__file__).resolve().parent
TRANSLATIONS = PACKAGE / "translations"
# Beside the package in a checkout; inside it once built (create_app looks in both places).
WEB_ASSETS = ("templates", "static")


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Compile every <locale>/LC_MESSAGES/*.po under source into the same place under target."""
    written = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        relative = po_path.relative_to(source)
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=relative.parts[0])
        mo_path = (target / relative).with_suffix(".mo")
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with mo_path.open("wb") as handle:
            write_mo(handle, catalog)
        written.append(mo_path)
    return written


class BuildPy(build_py):
    """build_py that compiles the catalogs (beside the .po when editable, else into the build) and,
    unless editable, copies templates/ and static/ into the built package."""

    def run(self):
        built_package = Path(self.build_lib) / "exastro_mail"
        target = TRANSLATIONS if self.editable_mode else built_package / "translations"
        for mo_path in compile_catalogs(TRANSLATIONS, target):
            self.announce(f"compiled {mo_path}", level=2)
        if not self.editable_mode:
            for name in WEB_ASSETS:
                shutil.copytree(PACKAGE.parent / name, built_package / name, dirs_exist_ok=True)
                self.announce(f"copied {name}/ into the package", level=2)
        super().run()
