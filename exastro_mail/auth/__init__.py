"""Logging in and out, sessions that the server can end, and who may see what."""
