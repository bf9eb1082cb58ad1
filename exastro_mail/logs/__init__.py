"""The delivery log and the audit log pages."""
