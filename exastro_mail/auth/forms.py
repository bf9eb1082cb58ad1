"""Forms for logging in and out."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Enter your username."), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=255)])
    next = HiddenField()


class PostOnlyForm(FlaskForm):
    """An empty form that carries the CSRF token of a POST button (logout, retry, revoke)."""
