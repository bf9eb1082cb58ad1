"""Running the app under gunicorn from our own command."""

from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):
    """gunicorn with options given in code, not read from the command line."""

    def __init__(self, app, **options):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application
