"""api_tokens."""
