"""setuptools hook: compile the message catalogs (.po to .mo) whenever the package is built or installed.

setuptools loads this file on its own, before the package's dependencies exist: it imports only
setuptools and Babel (a build requirement), never the rest of exastro_mail.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools.command.build_py import build_py

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


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


class BuildPyWithCatalogs(build_py):
    """build_py that also compiles the catalogs: beside the .po when editable, else into the build."""

    def run(self):
        if self.editable_mode:
            target = TRANSLATIONS
        else:
            target = Path(self.build_lib) / "exastro_mail" / "translations"
        for mo_path in compile_catalogs(TRANSLATIONS, target):
            self.announce(f"compiled {mo_path}", level=2)
        super().run()
