"""OAuth 2.0 for sending mail: tokens (client credentials, service-account JWT), their cache, XOAUTH2, Graph.

Flask-free: it speaks HTTPS and SMTP AUTH and returns facts (errors.py); translated hints live above it.
"""

from ..smtp.trust import trust_context
from .cache import TokenCache, with_token
from .errors import GraphError, GraphTokenRefused, OAuthError, TokenError, TokenRefused
from .graph import GRAPH_SCOPE, GRAPH_URL, graph_base_url, send_mail, send_mail_url
from .https import HttpsClient, HttpsFailure, https_url
from .service_account import ServiceAccountKey, ServiceAccountKeyError, parse_service_account_key
from .tokens import GOOGLE_MAIL_SCOPE, ClientCredentials, ServiceAccount, Token, TokenSource, fetch_token
from .xoauth2 import XOAuth2Refused, XOAuth2Unavailable, authenticate_xoauth2, xoauth2_string

__all__ = [
    "GOOGLE_MAIL_SCOPE",
    "GRAPH_SCOPE",
    "GRAPH_URL",
    "ClientCredentials",
    "GraphError",
    "GraphTokenRefused",
    "HttpsClient",
    "HttpsFailure",
    "OAuthError",
    "ServiceAccount",
    "ServiceAccountKey",
    "ServiceAccountKeyError",
    "Token",
    "TokenCache",
    "TokenError",
    "TokenRefused",
    "TokenSource",
    "XOAuth2Refused",
    "XOAuth2Unavailable",
    "authenticate_xoauth2",
    "fetch_token",
    "graph_base_url",
    "https_url",
    "parse_service_account_key",
    "send_mail",
    "send_mail_url",
    "trust_context",
    "with_token",
    "xoauth2_string",
]
