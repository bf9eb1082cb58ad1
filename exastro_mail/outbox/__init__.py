"""The outbox: every mail is a row first; a worker delivers it."""
