"""What both logs can be narrowed to, read from the query string: a date range and a page size.

Dates are days in the reader's time zone (the one the pages show times in), compared in UTC as stored.
A value that is not usable is left out of the query and said next to its field; it never fails the page.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
MAX_TEXT = 255  # a filter's text (who, search) is cut to what a column holds


@dataclass
class Filters:
    """The filters of a log page as the reader gave them (kept for the form and the links) and as used."""

    args: dict = field(default_factory=dict)  # what goes back into the links: only usable values
    errors: dict = field(default_factory=dict)  # query-string name -> message
    since: datetime | None = None  # UTC, inclusive
    until: datetime | None = None  # UTC, exclusive
    page_size: int = DEFAULT_PAGE_SIZE
    typed: dict = field(default_factory=dict)  # what the reader typed, to show it again in the form

    def link_args(self, position: dict) -> dict:
        """The query-string arguments of a link to position (Position.args) with these filters."""
        return {**self.args, **position}

    def date_range(self, model, query):
        """query limited to the date range (model.created_at)."""
        if self.since is not None:
            query = query.where(model.created_at >= self.since)
        if self.until is not None:
            query = query.where(model.created_at < self.until)
        return query


def read_common(args) -> Filters:
    """The date range and page size of a log page."""
    filters = Filters()
    days = {}
    for name in ("from", "to"):
        value = (args.get(name) or "").strip()[:20]
        filters.typed[name] = value
        if not value:
            continue
        try:
            days[name] = date.fromisoformat(value)
        except ValueError:
            filters.errors[name] = _l("Enter a date as YYYY-MM-DD, as in 2026-04-01.")
            continue
        filters.args[name] = value
    if "from" in days and "to" in days and days["to"] < days["from"]:
        filters.errors["to"] = _l("The end of the range must not be before its start.")
        del filters.args["to"], days["to"]
    if "from" in days:
        filters.since = _start_of(days["from"])
    if "to" in days:
        filters.until = _start_of(days["to"] + timedelta(days=1))
    size = args.get("size")
    if size and size.isdigit() and int(size) in PAGE_SIZES:
        filters.page_size = int(size)
        if filters.page_size != DEFAULT_PAGE_SIZE:
            filters.args["size"] = size
    return filters


def text(args, name: str, filters: Filters) -> str | None:
    """A text filter (stripped, cut to MAX_TEXT), noted in filters; None when empty."""
    value = " ".join((args.get(name) or "").split())[:MAX_TEXT]
    filters.typed[name] = value
    if not value:
        return None
    filters.args[name] = value
    return value


def choice(args, name: str, allowed, filters: Filters) -> str | None:
    """One of allowed, noted in filters; None for anything else."""
    value = args.get(name)
    if value not in allowed:
        return None
    filters.typed[name] = filters.args[name] = value
    return value


def _start_of(day: date) -> datetime:
    """The start of a day in the reader's time zone, in UTC without tzinfo (as stored)."""
    zone = get_timezone()
    midnight = datetime.combine(day, time.min)
    # babel hands out pytz zones when pytz is installed: those must localize, not be attached.
    local = zone.localize(midnight) if hasattr(zone, "localize") else midnight.replace(tzinfo=zone)
    return local.astimezone(UTC).replace(tzinfo=None)
