"""Pages of a log, newest first, by keyset ("seek") paging: a page starts after the last row of the one
before it, never at an OFFSET, and nothing is counted. Each log's query walks an index whose columns
end in (created_at, id), so the first, a deep and the oldest page each read about one page of rows, however
long the log is.

A position in the query string: nothing (the newest rows), before=<cursor> (older than that row),
after=<cursor> (newer than it) or at=oldest. A cursor is a row's created_at and id: 20261201232540123456-42.
"""

from dataclasses import dataclass
from datetime import datetime

CURSOR_TIME_FORMAT = "%Y%m%d%H%M%S%f"
OLDEST = "oldest"


@dataclass(frozen=True)
class Cursor:
    """A row's place in the log: its created_at, then its id for rows of the same time."""

    created_at: datetime
    id: int

    @property
    def token(self) -> str:
        return f"{self.created_at.strftime(CURSOR_TIME_FORMAT)}-{self.id}"

    @classmethod
    def parse(cls, value) -> "Cursor | None":
        """A cursor from the query string; None for anything unusable (the newest page is shown then)."""
        if not isinstance(value, str) or len(value) > 60:
            return None
        stamp, _, number = value.partition("-")
        try:
            return cls(datetime.strptime(stamp, CURSOR_TIME_FORMAT), int(number))
        except ValueError:
            return None

    @classmethod
    def of(cls, row) -> "Cursor":
        return cls(row.created_at, row.id)


@dataclass(frozen=True)
class Position:
    """Where the reader asked to be: the newest rows, before or after a row, or the oldest rows."""

    before: Cursor | None = None
    after: Cursor | None = None
    oldest: bool = False

    @classmethod
    def from_args(cls, args) -> "Position":
        before, after = Cursor.parse(args.get("before")), Cursor.parse(args.get("after"))
        if before is not None:
            return cls(before=before)
        if after is not None:
            return cls(after=after)
        return cls(oldest=args.get("at") == OLDEST)

    @property
    def args(self) -> dict:
        """The query-string arguments that come back to this position."""
        if self.before is not None:
            return {"before": self.before.token}
        if self.after is not None:
            return {"after": self.after.token}
        return {"at": OLDEST} if self.oldest else {}


@dataclass(frozen=True)
class Page:
    """One page of a log: its rows, newest first, and whether there are newer and older rows."""

    rows: list
    page_size: int
    newer: Cursor | None = None  # the first row's cursor, when newer rows exist (after=)
    older: Cursor | None = None  # the last row's cursor, when older rows exist (before=)

    @property
    def has_newer(self) -> bool:
        return self.newer is not None

    @property
    def has_older(self) -> bool:
        return self.older is not None


def _older_than(model, cursor: Cursor):
    # The plain range on created_at is what an index seeks on; the rest only splits rows of the same time.
    at = model.created_at
    return (at <= cursor.created_at) & ((at < cursor.created_at) | (model.id < cursor.id))


def _newer_than(model, cursor: Cursor):
    at = model.created_at
    return (at >= cursor.created_at) & ((at > cursor.created_at) | (model.id > cursor.id))


def _newest_first(model):
    return (model.created_at.desc(), model.id.desc())


def _oldest_first(model):
    return (model.created_at.asc(), model.id.asc())


def _exists(query, model, condition, order) -> bool:
    # Ordered as the index runs from the cursor: without it PostgreSQL may pick a sequential scan,
    # which reads past every older row before it meets a newer one.
    return query.select(model.id).where(condition).order_by(*order).limit(1).scalar() is not None


def seek(query, model, position: Position, page_size: int, shown) -> Page:
    """The page of query's rows (already filtered) at position; shown(row) makes each row as listed."""
    if position.after is not None:
        rows, newer, older = _after(query, model, position.after, page_size)
        if len(rows) < page_size and not newer:
            # Fewer newer rows than a page: the newest page, full, is what the reader wants.
            rows, newer, older = _before(query, model, None, page_size)
    elif position.oldest:
        fetched = list(query.order_by(*_oldest_first(model)).limit(page_size + 1))
        rows, newer, older = fetched[:page_size][::-1], len(fetched) > page_size, False
    else:
        rows, newer, older = _before(query, model, position.before, page_size)
        if not rows and position.before is not None:  # the rows past it were removed meanwhile
            return seek(query, model, Position(oldest=True), page_size, shown)
    return Page(
        [shown(row) for row in rows],
        page_size,
        newer=Cursor.of(rows[0]) if newer else None,
        older=Cursor.of(rows[-1]) if older else None,
    )


def _before(query, model, cursor: Cursor | None, page_size: int):
    """(rows, newer ones exist, older ones exist): a page of rows older than cursor (None: the newest)."""
    here = query if cursor is None else query.where(_older_than(model, cursor))
    fetched = list(here.order_by(*_newest_first(model)).limit(page_size + 1))
    rows = fetched[:page_size]
    newer = (
        cursor is not None
        and bool(rows)
        and _exists(query, model, _newer_than(model, Cursor.of(rows[0])), _oldest_first(model))
    )
    return rows, newer, len(fetched) > page_size


def _after(query, model, cursor: Cursor, page_size: int):
    """(rows, newer ones exist, older ones exist): a page of rows newer than cursor, newest first."""
    fetched = list(
        query.where(_newer_than(model, cursor)).order_by(*_oldest_first(model)).limit(page_size + 1)
    )
    rows = fetched[:page_size][::-1]
    last = Cursor.of(rows[-1]) if rows else None
    older = last is not None and _exists(query, model, _older_than(model, last), _newest_first(model))
    return rows, len(fetched) > page_size, older
