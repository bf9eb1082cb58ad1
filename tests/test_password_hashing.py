"""Passwords are hashed with EXASTRO_MAIL_PASSWORD_HASH_METHOD (scrypt unless set), inside an app context
and outside one (code beside the app: the CLI's helpers, fixtures), where the app built last decides."""

from exastro_mail.auth.passwords import hash_password, verify_password
from exastro_mail.config import DEFAULTS
from tests.conftest import TEST_HASH_METHOD, build_app, make_org, make_user


def test_by_default_every_hash_is_scrypt_inside_and_outside_an_app_context(tmp_path):
    app = build_app(tmp_path, PASSWORD_HASH_METHOD=DEFAULTS["PASSWORD_HASH_METHOD"])
    assert app.config["PASSWORD_HASH_METHOD"] == "scrypt"
    with app.app_context():
        inside = hash_password("correct horse battery")
    outside = make_user(make_org(), "alice").password_hash
    assert inside.startswith("scrypt:") and outside.startswith("scrypt:")
    assert verify_password(outside, "correct horse battery")


def test_the_configured_method_is_used_outside_an_app_context_too(tmp_path):
    build_app(tmp_path)  # the suite's cheap method
    user = make_user(make_org(), "alice")
    assert user.password_hash.startswith(f"{TEST_HASH_METHOD}$")
    assert verify_password(user.password_hash, "correct horse battery")
    assert not verify_password(user.password_hash, "wrong horse battery")
