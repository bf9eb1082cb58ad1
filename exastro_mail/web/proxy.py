"""Behind a reverse proxy: which X-Forwarded-* headers to believe, and how many proxies set them.

EXASTRO_MAIL_PROXY_FIX_X_FOR=1 takes the client's address from the last X-Forwarded-For entry (the one
the proxy in front added), so rate limits and audit records see the real client; without it every
request seems to come from the proxy. EXASTRO_MAIL_PROXY_FIX_X_PROTO=1 believes X-Forwarded-Proto
(https at the proxy). Leave both 0 when clients reach exastro-mail directly: a client could then
forge the headers.
"""

from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import ConfigError

SETTINGS = ("PROXY_FIX_X_FOR", "PROXY_FIX_X_PROTO")


def init_app(app) -> None:
    """Wrap the WSGI app in ProxyFix when EXASTRO_MAIL_PROXY_FIX_X_FOR or _X_PROTO is set."""
    hops = {}
    for name in SETTINGS:
        value = app.config.get(name) or 0
        try:
            hops[name] = int(value)
        except (TypeError, ValueError):
            hops[name] = -1
        if not 0 <= hops[name] <= 5:
            raise ConfigError(
                f"EXASTRO_MAIL_{name} must be the number of proxies in front (0 to 5), not {value!r}."
            )
        app.config[name] = hops[name]
    if any(hops.values()):
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=hops["PROXY_FIX_X_FOR"], x_proto=hops["PROXY_FIX_X_PROTO"], x_host=0, x_port=0
        )
