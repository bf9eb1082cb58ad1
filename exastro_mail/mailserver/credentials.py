"""The checks of how the settings authenticate: https URLs, the service-account key, which method goes
with which sending method, and the warning for credentials that would cross the network in clear."""

from collections.abc import Mapping

from flask_babel import gettext as _

from ..oauth import GRAPH_SCOPE, HttpsFailure, ServiceAccountKeyError, https_url, parse_service_account_key
from ..smtp.endpoint import ENCRYPTION_NONE
from ..web.json_envelope import NOT_A_CHOICE, NOT_A_URL, REQUIRED, UNREADABLE_BODY
from .checks import Invalid, text_value, too_long
from .fields import METHOD_CLIENT_CREDENTIALS, TRANSPORT_GRAPH, Field


def check_https_url(value, declared: Field) -> str | None:
    """An https URL (blank: the declared default, or refused when the field has a `missing` message)."""
    url = text_value(value, declared.label)
    if not url:
        if declared.default:
            return declared.default
        if declared.missing:
            raise Invalid(str(declared.missing), REQUIRED)
        return None
    too_long(url, declared)
    try:
        https_url(url, allow_query=False)
    except HttpsFailure as failure:
        if failure.reason == "only https URLs are allowed":
            raise Invalid(_("Enter an https:// URL: plain http is refused."), NOT_A_URL) from None
        raise Invalid(
            _("This is not a URL that can be used: %(reason)s.", reason=failure.reason), NOT_A_URL
        ) from None
    return url


def check_service_account_key(value, declared: Field, stored: bool) -> str | None:
    """A service account's JSON key, checked (type, client_email, private_key, https token_uri);
    None to keep the stored one (blank). The message never quotes the key."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if stored:
            return None
        raise Invalid(str(declared.missing), REQUIRED)
    if not isinstance(value, str):
        raise Invalid(_("%(label)s must be text.", label=declared.label), UNREADABLE_BODY)
    too_long(value, declared)
    try:
        parse_service_account_key(value)
    except ServiceAccountKeyError as problem:
        reason = problem.reason
        message = _("This is not a usable service account key: %(reason)s.", reason=reason)
        raise Invalid(message, NOT_A_CHOICE) from None
    return value


def check_oauth_combination(values: dict, errors: Mapping) -> dict[str, Invalid]:
    """Microsoft Graph sends with a client-credentials token only; a blank scope then is Graph's."""
    if values.get("transport") != TRANSPORT_GRAPH or "authentication_method" in errors:
        return {}
    method = values.get("authentication_method") if values.get("authentication_enable") else None
    if method != METHOD_CLIENT_CREDENTIALS:
        needed = _("Microsoft Graph needs authentication with OAuth 2.0 (client credentials).")
        return {"authentication_method": Invalid(needed, NOT_A_CHOICE)}
    if not values.get("oauth2_scope"):
        values["oauth2_scope"] = GRAPH_SCOPE
    return {}


def unencrypted_auth_warning(values: Mapping) -> str | None:
    """The save-time warning for credentials sent to an SMTP server without encryption."""
    if values.get("authentication_enable") and values.get("encryption") == ENCRYPTION_NONE:
        return _(
            "With authentication and no encryption, the password or token crosses the network "
            "unencrypted. Choose STARTTLS or SSL/TLS unless the server is on this machine."
        )
    return None


def stored_hints(stored) -> dict[str, str]:
    """The hints under write-only fields that hold a value, where they say more than the declared one."""
    if stored is None or not stored.oauth2_service_account_email:
        return {}
    return {
        "oauth2_service_account_key": _(
            "A key of %(client_email)s is stored: leave blank to keep it.",
            client_email=stored.oauth2_service_account_email,
        )
    }
