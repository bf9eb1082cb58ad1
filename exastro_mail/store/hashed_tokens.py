"""Random tokens kept only as a hash: login sessions, reset links and API tokens.

A token carries 256 random bits, so one SHA-256 is enough: nothing can be guessed from the hash, and
a lookup by hash is one indexed query.
"""

import hashlib


def token_hash(token: str) -> str:
    """The stored form of a random token: its SHA-256, in hex (64 characters)."""
    return hashlib.sha256(token.encode()).hexdigest()
