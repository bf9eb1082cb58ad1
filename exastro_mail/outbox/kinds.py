"""The kinds of mail the outbox carries, each declared once with what it needs done around its sending.

A kind registers itself where it is declared: the notification and the test mail below, the password
reset and the password-changed notice in password_reset/mail_kind.py. enqueue_mail refuses a kind that
is not registered; the worker fails a row of an unknown kind and goes on with the rest of its batch.

The worker calls a kind's hooks, when it has them:
- prepare(claim, message, settings) -> bool, just before the message is composed and sent through the
  organization's settings (MailServerSettings, read once per batch). It may rewrite the
  row through the claim (claim.rewrite, claim.drop, inside its own transaction) or record why the
  message must not be sent (claim.expired, claim.fail); it returns False then, True when ready.
- finish(message, outcome) -> dict, when the message reaches a final status (sent, failed, expired,
  discarded): the kind's own columns to write with that status, in the same UPDATE. It writes nothing
  itself, since the UPDATE applies only while the worker still holds the row.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class MailKind:
    """A kind of mail: the name its rows store, how the logs call it, and its hooks (see above)."""

    name: str
    label: object  # a lazy translation, as the delivery and audit logs show the kind
    retryable: bool  # whether an operator may queue it again from the delivery log
    secret_bodies: bool = False  # its bodies carry a secret: sealed while queued, erased once final
    columns: tuple[str, ...] = ()  # OutboxMessage columns of its own, which enqueue_mail accepts for it
    # Claimed ahead of mail of a lower priority (outbox/claim.py): PRIORITY_WAITING for a mail someone
    # waits for at the screen, NORMAL for the rest. Stored in each row, so the claim reads it by index.
    priority: int = 0
    prepare: Callable[..., bool] | None = None
    finish: Callable[..., dict] | None = None


_REGISTRY: dict[str, MailKind] = {}
PRIORITY_NORMAL = 0
PRIORITY_WAITING = 1  # someone is waiting at the screen for it (a reset link)


def register(kind: MailKind) -> MailKind:
    """Make a kind known to enqueue_mail, the worker and the logs, and return it; a name is taken once."""
    known = _REGISTRY.setdefault(kind.name, kind)
    if known is not kind:
        raise ValueError(f"another mail kind is already registered as {kind.name!r}")
    return kind


def find(name: str) -> MailKind | None:
    """The registered kind of this name, or None."""
    return _REGISTRY.get(name)


def registered() -> tuple[MailKind, ...]:
    """Every registered kind, in the order they registered."""
    return tuple(_REGISTRY.values())


def priorities() -> list[int]:
    """Every priority a row may have, highest first (the order the claim takes them in)."""
    return sorted({PRIORITY_NORMAL, *(kind.priority for kind in _REGISTRY.values())}, reverse=True)


def retryable(name: str) -> bool:
    """Whether an operator may retry mail of this kind (an unknown kind: no)."""
    kind = find(name)
    return kind is not None and kind.retryable


def when_done(message, outcome: str) -> dict:
    """The columns a message's kind clears or writes along with a final outcome (status.FINAL)."""
    kind = find(message.kind)
    if kind is None:
        return {}
    fields = {"body_text": None, "body_html": None} if kind.secret_bodies else {}
    if kind.finish is not None:
        fields.update(kind.finish(message, outcome))
    return fields


class _Labels(Mapping):
    """Each registered kind's label by name, read when shown: kinds register as their modules load."""

    def __getitem__(self, name: str):
        return _REGISTRY[name].label

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)


LABELS: Mapping[str, object] = _Labels()

NOTIFICATION = register(MailKind("notification", _l("Notification"), retryable=True))
# A test mail answers "can we send now?": queued again later, it would answer a question no one asked.
TEST_MAIL = register(MailKind("test_mail", _l("Test mail"), retryable=False))
