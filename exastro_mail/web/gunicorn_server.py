"""Running the app under gunicorn from our own command."""

import os
import sys
from collections.abc import Callable

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from . import metrics

# gunicorn believes X-Forwarded-Proto (and SCRIPT_NAME, PATH_INFO headers) from 127.0.0.1 by default,
# whatever EXASTRO_MAIL_PROXY_FIX_X_PROTO says; only ProxyFix (web/proxy.py) decides which proxies to
# believe, so gunicorn believes none.
BELIEVE_NO_FORWARDED_HEADERS = {"forwarded_allow_ips": "", "secure_scheme_headers": {}}
# A Unix socket's path holds at most 107 bytes; with a longer instance folder gunicornc goes without.
CONTROL_SOCKET_PATH_MAX = 100


def control_socket_options(instance_path: str) -> dict:
    """gunicorn 25.1+'s control socket (for gunicornc) in the instance folder: by default it is one
    per user ($HOME/.gunicorn/gunicorn.ctl), which a second instance would take over."""
    path = os.path.join(instance_path, "gunicorn.ctl")
    if len(os.fsencode(path)) > CONTROL_SOCKET_PATH_MAX:
        return {"control_socket_disable": True}
    return {"control_socket": path}


# One request per connection, as gunicorn's sync workers (the default) always answer; this is for
# gthread workers (--threads 2 or more), which take every connection they can accept and keep a
# kept-alive one, so a few persistent clients (a proxy's pooled upstream connections, a load generator)
# could all land on one worker and leave the others idle (docs/benchmarks.md). Closed after each answer,
# every next connection is accepted by whichever worker is free.
ONE_REQUEST_PER_CONNECTION = {"keepalive": 0}


class GunicornServer(BaseApplication):
    """gunicorn with options given in code, not read from the command line: sync workers, or gthread
    workers when given threads."""

    def __init__(self, app, *, reap_first: Callable[[], None] | None = None, **options):
        self.application = app
        self.reap_first = reap_first
        self.options = {
            **BELIEVE_NO_FORWARDED_HEADERS,
            **ONE_REQUEST_PER_CONNECTION,
            **control_socket_options(app.instance_path),
            "child_exit": metrics.worker_exited,
            **options,
        }
        if self.options.get("threads", 1) > 1:
            self.options.setdefault("worker_class", "gthread")
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key.startswith("control_socket") and key not in self.cfg.settings:
                continue  # gunicorn before 25.1 has no control socket
            self.cfg.set(key, value)

    def load(self):
        return self.application

    def run(self):
        """BaseApplication.run(), with our arbiter."""
        try:
            OwnChildrenFirstArbiter(self).run()
        except RuntimeError as error:
            print(f"\nError: {error}\n", file=sys.stderr)
            sys.exit(1)


class OwnChildrenFirstArbiter(Arbiter):
    """gunicorn's arbiter, letting the app's own child (the outbox worker) be reaped by its supervisor
    first: reap_workers() reaps every child of the process with waitpid(-1), and with it the only record
    of how the child ended (a SIGKILL from the OOM killer, say), which the supervisor then could not log."""

    def reap_workers(self):
        if self.app.reap_first is not None:
            self.app.reap_first()
        super().reap_workers()
