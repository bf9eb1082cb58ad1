"""Running the app under gunicorn from our own command."""

from gunicorn.app.base import BaseApplication

# gunicorn believes X-Forwarded-Proto (and SCRIPT_NAME, PATH_INFO headers) from 127.0.0.1 by default,
# whatever EXASTRO_MAIL_PROXY_FIX_X_PROTO says; only ProxyFix (web/proxy.py) decides which proxies to
# believe, so gunicorn believes none.
BELIEVE_NO_FORWARDED_HEADERS = {"forwarded_allow_ips": "", "secure_scheme_headers": {}}


class GunicornServer(BaseApplication):
    """gunicorn with options given in code, not read from the command line; with threads, gthread
    workers, so a request that waits (a test mail on a slow server) holds one thread, not a worker."""

    def __init__(self, app, **options):
        self.application = app
        self.options = {**BELIEVE_NO_FORWARDED_HEADERS, **options}
        if self.options.get("threads", 1) > 1:
            self.options.setdefault("worker_class", "gthread")
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application
