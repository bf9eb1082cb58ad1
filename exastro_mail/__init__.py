"""exastro-mail: mail sending server settings, password reset by mail, and notifications."""

from pathlib import Path

from flask import Flask, redirect, url_for

from . import config, i18n
from .extensions import csrf, login_manager
from .store import db
from .web import errors, metrics, page_cache, proxy, rate_limits, row_ids, security_headers

PACKAGE = Path(__file__).resolve().parent


def _web_assets(name: str) -> str:
    """templates/ or static/: inside the package when installed from a wheel, beside it in a checkout."""
    packaged = PACKAGE / name
    return str(packaged if packaged.is_dir() else PACKAGE.parent / name)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, headers and error pages."""
    app = Flask(
        __name__,
        instance_path=(test_config or {}).get("INSTANCE_PATH") or config.instance_path_from_env(),
        instance_relative_config=True,
        template_folder=_web_assets("templates"),
        static_folder=_web_assets("static"),
    )
    config.load(app, test_config)
    proxy.init_app(app)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app, add_context_processor=False)  # see auth.sessions.init_app
    login_manager.session_protection = "basic"
    rate_limits.init_app(app)
    i18n.init_app(app)
    security_headers.init_app(app)
    page_cache.init_app(app)
    errors.init_app(app)
    row_ids.init_app(app)
    metrics.init_app(app)

    from .account.views import bp as account_bp
    from .api.views import bp as api_bp
    from .api_tokens.views import bp as api_tokens_bp
    from .auth import first_login, passwords, sessions
    from .auth.views import bp as auth_bp
    from .logs.views import bp as logs_bp
    from .mailserver.views import bp as mailserver_bp
    from .password_reset.views import bp as password_reset_bp
    from .platform.front import bp as front_bp
    from .platform.views import bp as platform_bp
    from .web.health import bp as health_bp

    passwords.init_app(app)
    sessions.init_app(app)
    first_login.init_app(app)
    csrf.exempt(api_bp)  # the API takes no cookies, only Basic or Bearer credentials
    for blueprint in (
        health_bp,
        front_bp,
        auth_bp,
        platform_bp,
        mailserver_bp,
        password_reset_bp,
        logs_bp,
        api_tokens_bp,
        account_bp,
        api_bp,
    ):
        app.register_blueprint(blueprint)

    @app.get("/<org_id>/")
    def org_home(org_id):
        return redirect(url_for("platform.index", org_id=org_id))

    from . import cli

    cli.init_app(app)
    return app
