"""Forgot password: reset tokens, the request and reset pages."""
