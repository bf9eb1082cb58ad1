"""The password quickstart generates for its administrator, kept in the instance folder only until the
administrator chooses their own (on the account page or through a reset link)."""

import contextlib
import os
from pathlib import Path

from .passwords import verify_password

INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105  # nosec B105  # a file name


def initial_password_path(instance_path: str) -> Path:
    """Where quickstart writes the administrator's generated password."""
    return Path(instance_path) / INITIAL_PASSWORD_FILE


def write_initial_password(instance_path: str, password: str) -> Path:
    """Write the generated password, readable by this user only (0600)."""
    path = initial_password_path(instance_path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return path


def _stored(path: Path) -> str | None:
    try:
        return path.read_text().rstrip("\r\n")
    except OSError:
        return None


def retire_initial_password(instance_path: str, old_password_hash: str) -> bool:
    """After a password change: remove the file if it held the password that hash was made from (so it
    never shows a password that no longer works). Returns whether it was removed."""
    path = initial_password_path(instance_path)
    if not path.exists():  # the usual case: a real install never had one
        return False
    stored = _stored(path)
    if stored is None or not verify_password(old_password_hash, stored):
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True


def initial_password_still_works(instance_path: str, password_hash: str) -> bool | None:
    """None without the file; else whether it still holds the account's password (False: it is stale,
    as a password changed before exastro-mail removed the file leaves it)."""
    path = initial_password_path(instance_path)
    stored = _stored(path) if path.exists() else None
    if stored is None:
        return None
    return verify_password(password_hash, stored)
