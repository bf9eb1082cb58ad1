"""The audit trail: who did what, when. Details never hold a secret."""

import json

from flask import has_request_context, request

from .models import AuditEvent


def record(organization, action: str, actor: str | None = None, **detail) -> AuditEvent:
    """Append one audit event for an organization."""
    remote_addr = request.remote_addr if has_request_context() else None
    return AuditEvent.create(
        organization=organization,
        actor=actor,
        action=action,
        detail=json.dumps(detail, sort_keys=True) if detail else None,
        remote_addr=remote_addr,
    )
