"""Who a mail comes from, by the settings: one answer for the outbox's mail and for the test mail."""

from collections.abc import Mapping
from dataclasses import dataclass

from ..mime import one_line


@dataclass(frozen=True)
class Sender:
    """The From and Reply-To of a mail, and its SMTP envelope sender (MAIL FROM)."""

    from_address: str
    from_name: str
    reply_to: str | None
    reply_name: str | None
    envelope_from: str


def sender_for(values: Mapping, organization_name: str) -> Sender:
    """The sender of settings values (checked, or stored_values()); with Source display name blank, the
    organization's name is shown, so a recipient still sees who wrote."""
    return Sender(
        from_address=values["send_from"],
        from_name=one_line(values.get("send_name")) or one_line(organization_name),
        reply_to=values.get("reply_to") or None,
        reply_name=one_line(values.get("reply_name")) or None,
        envelope_from=values.get("envelope_from") or values["send_from"],
    )
