"""Sealing of stored secrets (the SMTP password) with a key kept apart from SECRET_KEY."""

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


class SecretUnreadable(Exception):
    """The sealed value cannot be opened with the configured key (the key was changed)."""


def _fernet() -> Fernet:
    return Fernet(current_app.config["ENCRYPTION_KEY"])


def seal(plaintext: str) -> str:
    """Encrypt and authenticate a secret for storage."""
    return _fernet().encrypt(plaintext.encode()).decode()


def unseal(sealed: str) -> str:
    """Decrypt a stored secret; raises SecretUnreadable if the key does not fit."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "The stored SMTP password cannot be decrypted with EXASTRO_MAIL_ENCRYPTION_KEY; "
            "enter the password again."
        ) from error
