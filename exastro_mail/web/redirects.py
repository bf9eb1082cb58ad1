"""Where a form may send the browser next: only somewhere on this site."""

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """A `next` target only if it stays on this site (a path, not another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
