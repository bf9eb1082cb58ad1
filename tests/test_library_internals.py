"""The private names of libraries that exastro_mail.library_internals relies on: each test fails when
the library changes what we depend on, before anything else breaks in a confusing way."""

import os
import subprocess
import sys

import pytest
from flask import Flask, current_app, session
from flask_login import LoginManager, UserMixin, login_user
from flask_wtf.csrf import generate_csrf
from gunicorn.arbiter import Arbiter

from exastro_mail.library_internals import FLASK_LOGIN_USER_ID_KEY, app_in_context, set_request_csrf_token
from exastro_mail.web.gunicorn_server import GunicornServer, OwnChildrenFirstArbiter


def test_the_app_in_context_is_flasks_current_app_and_none_outside_one():
    app = Flask(__name__)
    assert app_in_context() is None
    with app.app_context():
        assert app_in_context() is current_app._get_current_object()
    with Flask("other").app_context():
        assert app_in_context() is not app


def test_flask_login_keeps_the_logged_in_user_under_the_key_we_read():
    app = Flask(__name__)
    app.secret_key = "test"
    manager = LoginManager(app)

    class User(UserMixin):
        id = "7"

    manager.user_loader(lambda _id: User())
    with app.test_request_context():
        assert FLASK_LOGIN_USER_ID_KEY not in session
        login_user(User())
        assert session[FLASK_LOGIN_USER_ID_KEY] == "7"


def test_flask_wtf_answers_the_token_we_set_for_the_request_and_signs_its_own_once_forgotten():
    app = Flask(__name__)
    app.secret_key = "test"
    with app.test_request_context():
        set_request_csrf_token("placeholder123")
        assert generate_csrf() == "placeholder123"
        set_request_csrf_token(None)
        signed = generate_csrf()
        assert signed != "placeholder123" and "." in signed


def _ended_child() -> subprocess.Popen:
    """A child process that has exited with code 5 and is not reaped yet."""
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    return child


def test_gunicorns_arbiter_reaps_every_child_and_ours_lets_the_supervisor_reap_its_own_first(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    # Why ours exists: gunicorn's reap_workers() takes a child that is not one of its workers too.
    stolen = _ended_child()
    Arbiter(GunicornServer(app)).reap_workers()
    with pytest.raises(ChildProcessError):  # gone: gunicorn reaped a child it did not start
        os.waitid(os.P_PID, stolen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    stolen.poll()  # Popen, finding it gone, settles for a made-up exit code 0

    kept = _ended_child()
    OwnChildrenFirstArbiter(GunicornServer(app, reap_first=kept.poll)).reap_workers()
    assert kept.returncode == 5
