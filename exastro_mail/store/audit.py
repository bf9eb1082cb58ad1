"""The audit trail: who did what, when. Details never hold a secret."""

import json

from flask import has_request_context, request

from .db import insert_row
from .models import AuditEvent

_FROM_THE_REQUEST = object()


def record(
    organization, action: str, actor: str | None = None, *, remote_addr=_FROM_THE_REQUEST, **detail
) -> None:
    """Append one audit event for an organization, from the request's address unless remote_addr says
    (work that goes on after its request)."""
    if remote_addr is _FROM_THE_REQUEST:
        remote_addr = request.remote_addr if has_request_context() else None
    insert_row(
        AuditEvent,
        organization=organization,
        actor=actor,
        action=action,
        detail=json.dumps(detail, sort_keys=True) if detail else None,
        remote_addr=remote_addr,
    )
