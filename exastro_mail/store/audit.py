"""The audit trail: who did what, when. Details never hold a secret."""

import json

from flask import has_request_context, request

from .db import insert_row
from .models import AuditEvent


def record(organization, action: str, actor: str | None = None, **detail) -> None:
    """Append one audit event for an organization."""
    insert_row(
        AuditEvent,
        organization=organization,
        actor=actor,
        action=action,
        detail=json.dumps(detail, sort_keys=True) if detail else None,
        remote_addr=request.remote_addr if has_request_context() else None,
    )
