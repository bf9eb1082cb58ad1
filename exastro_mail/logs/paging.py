"""Pages of a log: numbered from 1, newest first, a fixed number of rows each."""

from dataclasses import dataclass

PAGE_SIZE = 25


def last_page(total: int, page_size: int) -> int:
    """The number of the last page (1 when there is nothing)."""
    return max(1, -(-total // page_size))


def page_number(value) -> int:
    """A page number from the query string; anything unusable means the first page."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


@dataclass(frozen=True)
class Page:
    """One page of a log: its rows and where it sits among all of them."""

    rows: list
    number: int
    total: int
    page_size: int

    @property
    def pages(self) -> int:
        return last_page(self.total, self.page_size)

    @property
    def has_newer(self) -> bool:
        return self.number > 1

    @property
    def has_older(self) -> bool:
        return self.number < self.pages

    @property
    def first_shown(self) -> int:
        return (self.number - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last_shown(self) -> int:
        return (self.number - 1) * self.page_size + len(self.rows)
