"""The shape docs/architecture.md promises, read from the source: layers, module size, complexity.

A module may import its own layer and those below, never one above (so no loop crosses folders).
"""

import ast
from pathlib import Path

import pytest
from radon.complexity import cc_rank, cc_visit

PACKAGE = Path(__file__).resolve().parent.parent / "exastro_mail"
# Lowest first. A top-level module or folder of the package names its layer here; a new one must be
# placed before the suite passes.
LAYERS = [
    {"config", "config_checks", "extensions", "build", "library_internals", "metrics_registry"},
    {"store"},
    {"smtp", "oauth", "mime"},
    {"web"},
    {"i18n"},
    {"auth"},
    {"mailserver"},
    {"outbox"},
    {"password_reset"},
    {"account", "api_tokens", "logs", "platform", "backup"},
    {"api"},
    {"__init__", "cli"},
]
LAYER_OF = {name: number for number, names in enumerate(LAYERS) for name in names}
MAX_LINES = 300
WORST_RANK = "C"


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def part_of(path: Path) -> str:
    """The top-level module or folder a file belongs to (`exastro_mail/outbox/claim.py` -> outbox)."""
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def imported_parts(path: Path):
    """(line, part) for each import of another part of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth = len(path.relative_to(PACKAGE).parts) - 1  # folders between the package and the file
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head, _, rest = alias.name.partition(".")
                if head == "exastro_mail" and rest:
                    yield node.lineno, rest.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                head, _, rest = (node.module or "").partition(".")
                if head != "exastro_mail":
                    continue
                names = [rest.split(".")[0]] if rest else [alias.name for alias in node.names]
            elif node.level > depth:  # from the package root: `from ..config import x`
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            else:
                continue  # inside its own folder
            for name in names:
                yield node.lineno, name


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(path) for path in modules()} - {"translations"}
    assert sorted(parts - set(LAYER_OF)) == []


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in modules():
        mine = part_of(path)
        for line, other in imported_parts(path):
            if other != mine and LAYER_OF.get(other, -1) > LAYER_OF[mine]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {other}")
    assert upward == []


def test_the_flask_free_layers_import_neither_flask_nor_the_store():
    found = []
    for path in modules():
        if part_of(path) not in LAYERS[2]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"{path.relative_to(PACKAGE)} imports {name}" for name in names
                      if name.split(".")[0] in {"flask", "flask_babel", "flask_wtf", "flask_login", "peewee"}]
    assert found == []


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_stays_short_and_its_functions_simple(path):
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_LINES, f"{lines} lines"
    worse = [f"{block.name} ({block.complexity})" for block in cc_visit(text)
             if cc_rank(block.complexity) > WORST_RANK]
    assert worse == []
