"""Advice for OAuth 2.0 and Microsoft Graph failures: what the provider's code means, and what to change
in its console. mailserver/hints.py gives these first."""

from flask_babel import lazy_gettext as _l

from .hint_matching import Hint

# OAuth 2.0 and Microsoft Graph: what the provider's code means, and what to change in its console.
OAUTH_HINTS = (
    Hint(
        _l("The client secret is wrong or expired. Make a new one in Entra ID (Certificates & secrets)."),
        provider_codes=("AADSTS7000215", "AADSTS7000222"),
    ),
    Hint(
        _l("There is no app with this client ID in this tenant: check the client ID and the tenant."),
        provider_codes=("AADSTS700016",),
    ),
    Hint(
        _l("There is no such tenant: check the tenant ID or domain in the token URL."),
        provider_codes=("AADSTS90002",),
    ),
    Hint(
        _l("The scope is not valid; for SMTP it is https://outlook.office365.com/.default."),
        provider_codes=("AADSTS70011", "invalid_scope"),
    ),
    Hint(
        _l(
            "Domain-wide delegation is not granted to this service account for the scope "
            "https://mail.google.com/ (Google Admin console: Security, API controls)."
        ),
        provider_codes=("unauthorized_client",),
        steps=("token",),
    ),
    Hint(
        _l("The token endpoint refused the credentials: check the client ID and the client secret or key."),
        provider_codes=("invalid_client", "invalid_grant"),
    ),
    Hint(
        _l("The token endpoint is busy or unavailable; the outbox tries again later."),
        kinds=("token_refused", "token_timeout", "token_connection"),
        permanent=False,
    ),
    Hint(
        _l(
            "The token endpoint's certificate did not verify; if it comes from a private CA, add that CA as "
            "the Trusted CA certificate."
        ),
        kinds=("token_certificate", "graph_certificate"),
    ),
    Hint(
        _l("This installation only allows token endpoints and Graph on public addresses."),
        kinds=("token_forbidden_host", "graph_forbidden_host"),
    ),
    Hint(
        _l(
            "The server did not take the token: SMTP AUTH is disabled for the mailbox, or the app has no "
            "SMTP.SendAsApp permission or no access to the mailbox (Exchange Online: New-ServicePrincipal, "
            "Add-MailboxPermission)."
        ),
        kinds=("xoauth2_rejected",),
        reply_contains=("5.7.3",),
    ),
    Hint(
        _l(
            "The server did not take the token: check that the mailbox is the user the service account "
            "acts as, and that its delegation includes https://mail.google.com/."
        ),
        kinds=("xoauth2_rejected",),
    ),
    Hint(
        _l(
            "The server does not offer AUTH XOAUTH2 here; OAuth 2.0 needs STARTTLS or SSL/TLS and a "
            "server that takes it."
        ),
        kinds=("auth_unavailable",),
        reply_contains=("XOAUTH2",),
    ),
    Hint(
        _l(
            "Mail.Send was not granted: give the app the Mail.Send application permission (with admin "
            "consent), and allow it this mailbox if an access policy limits it."
        ),
        steps=("sendmail",),
        http_statuses=(403,),
    ),
    Hint(
        _l("Graph did not take the token: check that the scope is https://graph.microsoft.com/.default."),
        steps=("sendmail",),
        http_statuses=(401,),
    ),
    Hint(
        _l("Graph is busy or unavailable; the outbox tries again later."),
        steps=("sendmail",),
        permanent=False,
    ),
    Hint(
        _l(
            "Microsoft 365 no longer takes passwords for SMTP (basic authentication is disabled). Choose "
            "the authentication method OAuth 2.0 (client credentials): see the Microsoft 365 guide."
        ),
        reply_contains=("5.7.139", "5.7.30"),
    ),
)
