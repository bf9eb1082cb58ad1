"""What the server did with a message it took: the recipients it accepted and those it refused."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """One recipient the server refused at RCPT TO, with its reply ("450 4.2.0 ... Mailbox busy")."""

    address: str
    code: int
    reply: str

    @property
    def permanent(self) -> bool:
        """Whether trying this recipient again later cannot help (a 5xx)."""
        return self.code >= 500


@dataclass(frozen=True)
class Sent:
    """A message the server took (its reply to DATA) for the accepted recipients; the refused ones
    did not get it."""

    reply: str
    accepted: tuple[str, ...]
    refused: tuple[Refusal, ...] = ()
