"""Forgot password: reset tokens, the request and reset pages, the mails they queue."""


def available(app) -> bool:
    """Whether reset links can be made: they need EXASTRO_MAIL_BASE_URL, never the request's Host."""
    return bool(app.config.get("BASE_URL"))
