"""A bare Flask + Flask-WTF app that renders the same login and forgot-password forms, with no database.

It is what these pages cost on Flask itself: anything our app spends beyond it is ours to explain.
Run it as `gunicorn --chdir bench/peers flask_ceiling.app:app`.
"""

import os
import secrets

from flask import Flask, render_template
from flask_wtf import CSRFProtect, FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=255)])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    login = StringField("Username or email address", validators=[DataRequired(), Length(max=255)])


def create_app(secret_key: str | None = None) -> Flask:
    """The ceiling app; every worker must share one secret key, so the benchmark passes it in."""
    app = Flask(__name__)
    # A random key per process is enough for a GET-only peer; the benchmark passes one for all workers.
    app.config["SECRET_KEY"] = secret_key or os.environ.get("BENCH_SECRET_KEY") or secrets.token_hex(32)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    CSRFProtect(app)

    @app.get("/<org_id>/login")
    def login(org_id):
        return render_template("login.html", org_name=org_id, form=LoginForm())

    @app.get("/<org_id>/forgot-password")
    def forgot_password(org_id):
        return render_template("forgot_password.html", org_name=org_id, form=ForgotPasswordForm())

    @app.after_request
    def _headers(response):
        # The same headers our app sends, so both answer with equivalent responses.
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return app


app = create_app()
