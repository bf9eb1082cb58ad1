"""Who a mail goes to (the row's recipients column), and what became of each: accepted, refused for
now (retried), or refused for good.

A server may take a message for some recipients and refuse others at RCPT TO. The row keeps each
recipient's outcome (the column recipient_outcomes, JSON by address), so a retry goes only to those
refused for now and never again to one that accepted; the delivery log and the notifications API show
them, and last_error sums them up ("sent to 2 of 3, 1 retrying: 450 4.2.0 ...").
"""

import json

from ..smtp.outcome import Refusal, Sent

PENDING = "pending"  # not tried yet
ACCEPTED = "accepted"  # the server took the mail for it: never sent again
RETRYING = "retrying"  # refused for now (4xx): tried again with the next attempt
REFUSED = "refused"  # refused for good (5xx), or still refused when retrying gave up
STATUSES = (PENDING, ACCEPTED, RETRYING, REFUSED)


def stored_recipients(to=(), cc=(), bcc=()) -> str:
    """Recipients as an outbox row stores them (recipients_of reads them back)."""
    return json.dumps({"to": list(to), "cc": list(cc), "bcc": list(bcc)})


def recipients_of(message) -> dict[str, list[str]]:
    """The stored recipients: {"to": [...], "cc": [...], "bcc": [...]}."""
    stored = json.loads(message.recipients)
    return {field: list(stored.get(field, ())) for field in ("to", "cc", "bcc")}


def stored_outcomes(message) -> dict[str, dict]:
    """{address: {"status": ..., "reply": ...}} of the recipients tried so far."""
    return json.loads(message.recipient_outcomes) if message.recipient_outcomes else {}


def outcomes_by_field(message) -> dict[str, list[dict]]:
    """Each recipient's outcome, in the order of the row's to, cc and bcc: {"status", "reply"}."""
    stored = stored_outcomes(message)
    return {
        field: [_shown(stored.get(address)) for address in addresses]
        for field, addresses in recipients_of(message).items()
    }


def still_to_send(message) -> list[str]:
    """The envelope recipients of the next attempt: every address not accepted nor refused for good,
    each once, in the order of to, cc and bcc."""
    stored = stored_outcomes(message)
    addresses = [address for field in recipients_of(message).values() for address in field]
    return [
        address
        for address in dict.fromkeys(addresses)
        if stored.get(address, {}).get("status", PENDING) in (PENDING, RETRYING)
    ]


def after_attempt(message, sent: Sent | None = None, refused: tuple[Refusal, ...] = ()) -> dict:
    """The stored outcomes once an attempt has ended: the server took the mail (sent), or refused
    every recipient tried (refused)."""
    outcomes = stored_outcomes(message)
    for address in sent.accepted if sent else ():
        outcomes[address] = {"status": ACCEPTED, "reply": None}
    for refusal in (sent.refused if sent else ()) + tuple(refused):
        outcomes[refusal.address] = {
            "status": REFUSED if refusal.permanent else RETRYING,
            "reply": refusal.reply,
        }
    return outcomes


def gave_up(outcomes: dict) -> dict:
    """The outcomes when retrying stops: those still refused for now are refused for good."""
    return {
        address: {**outcome, "status": REFUSED} if outcome["status"] == RETRYING else outcome
        for address, outcome in outcomes.items()
    }


def reopened(message) -> str | None:
    """The stored outcomes for an operator's retry: every recipient not accepted is tried again."""
    kept = {
        address: outcome
        for address, outcome in stored_outcomes(message).items()
        if outcome["status"] == ACCEPTED
    }
    return json.dumps(kept) if kept else None


def counts(message, outcomes: dict) -> dict[str, int]:
    """How many of the mail's recipients (each address once) are in each status."""
    addresses = dict.fromkeys(address for field in recipients_of(message).values() for address in field)
    tally = dict.fromkeys(STATUSES, 0)
    for address in addresses:
        tally[outcomes.get(address, {}).get("status", PENDING)] += 1
    return tally


def summary(message, outcomes: dict) -> str | None:
    """The partial outcome in one line, kept in English like every reason ("sent to 2 of 3, 1
    retrying: 450 4.2.0 ... (RCPT TO busy@example.net)"); None when every recipient accepted."""
    tally = counts(message, outcomes)
    if tally[RETRYING] == 0 and tally[REFUSED] == 0:
        return None
    parts = []
    for wanted, label in ((RETRYING, "retrying"), (REFUSED, "refused")):
        replies = [
            f"{outcome['reply']} (RCPT TO {address})"
            for address, outcome in outcomes.items()
            if outcome["status"] == wanted
        ]
        if replies:
            parts.append(f"{len(replies)} {label}: " + "; ".join(replies))
    total = sum(tally.values())
    return f"sent to {tally[ACCEPTED]} of {total}, " + "; ".join(parts)


def _shown(outcome: dict | None) -> dict:
    return {"status": PENDING, "reply": None} if outcome is None else dict(outcome)
