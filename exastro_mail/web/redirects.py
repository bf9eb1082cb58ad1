"""Where a form may send the browser next: only somewhere on this site."""

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """A `next` target only if it stays on this site (a path, not another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    # Judged as typed: urlsplit drops tabs and line breaks before it looks, and a Location header
    # cannot carry them.
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
