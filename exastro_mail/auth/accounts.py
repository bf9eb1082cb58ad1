"""Creating organizations and users (the CLI and the tests use these; no request needed)."""

import unicodedata

from peewee import IntegrityError

from ..mime import AddressError, sendable_address
from ..store.db import db
from ..store.models import Organization, User
from .orgs import org_id_problem
from .passwords import hash_password, password_policy_problem


class AccountError(ValueError):
    """A clear reason why an organization or user cannot be created."""


def create_organization(org_id: str, name: str | None = None) -> Organization:
    """Create an organization; raises AccountError for a bad or taken id."""
    if problem := org_id_problem(org_id):
        raise AccountError(problem)
    name = (name or org_id).strip()
    if not name or len(name) > 255 or not is_plain_text(name):
        raise AccountError(
            "An organization's name is 1 to 255 characters, without line breaks or control characters."
        )
    try:
        with db.atomic():
            return Organization.create(org_id=org_id, name=name)
    except IntegrityError:
        raise AccountError(f"An organization with ID '{org_id}' already exists.") from None


def is_plain_text(text: str) -> bool:
    """Whether text is one line of printable characters: it goes into pages, mail subjects and logs."""
    return not any(unicodedata.category(character) in ("Cc", "Cs", "Zl", "Zp") for character in text)


def create_user(
    organization: Organization,
    username: str,
    email: str,
    password: str,
    *,
    admin: bool = False,
    must_change_password: bool = False,
) -> User:
    """Create a user; raises AccountError for a bad name, address or password, or a taken name.
    must_change_password: the password was made for them (quickstart), so the first login asks for one."""
    username = username.strip()
    if not username or len(username) > 255 or any(c.isspace() for c in username):
        raise AccountError("A username is 1 to 255 characters without spaces.")
    try:
        email = sendable_address(email.strip())
    except AddressError as error:
        raise AccountError(f"The email address is not valid: {error}") from None
    if problem := password_policy_problem(password, username):
        raise AccountError(f"The password is not acceptable: {problem}")
    try:
        with db.atomic():
            return User.create(
                organization=organization,
                username=username,
                email=email,
                password_hash=hash_password(password),
                is_admin=admin,
                must_change_password=must_change_password,
            )
    except IntegrityError:
        raise AccountError(f"User '{username}' already exists in '{organization.org_id}'.") from None
