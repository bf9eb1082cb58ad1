"""Row ids in URLs: `<id:name>` matches only a number a row's id can be, so any other is a 404.

Flask's `<int:...>` takes any length of digits, and SQLite cannot even compare a number past 64 bits
(OverflowError, a 500).
"""

from werkzeug.routing import IntegerConverter

MAX_ROW_ID = 2**63 - 1  # the largest integer every engine compares an id column against


class RowIdConverter(IntegerConverter):
    """A positive integer that fits a 64-bit signed column."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


def init_app(app) -> None:
    """Make `<id:...>` available to routes (before the blueprints are registered)."""
    app.url_map.converters["id"] = RowIdConverter
