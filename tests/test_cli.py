"""The exastro-mail command: schema, organizations and users from the shell."""

import subprocess
import sys

import pytest

from exastro_mail.store import migrations
from exastro_mail.store.models import Organization, User


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_init_db_is_idempotent(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert f"up to date (version {migrations.LATEST})" in result.output


def test_create_org(runner, app):
    result = runner.invoke(args=["create-org", "acme-2", "--name", "ACME Two"])
    assert result.exit_code == 0, result.output
    assert Organization.get(Organization.org_id == "acme-2").name == "ACME Two"


@pytest.mark.parametrize(
    ("org_id", "message"),
    [
        ("Acme", "starts with a lowercase letter"),
        ("1acme", "starts with a lowercase letter"),
        ("a" * 37, "at most 36 characters"),
        ("ac me", "starts with a lowercase letter"),
        ("api", "reserved"),
        ("static", "reserved"),
    ],
)
def test_create_org_rejects_bad_ids(runner, org_id, message):
    result = runner.invoke(args=["create-org", org_id])
    assert result.exit_code == 1
    assert message in result.output
    assert Organization.select().count() == 0


def test_create_org_rejects_a_duplicate(runner):
    runner.invoke(args=["create-org", "acme"])
    result = runner.invoke(args=["create-org", "acme"])
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_create_user_reads_the_password_from_stdin(runner, org):
    result = runner.invoke(
        args=["create-user", "acme", "carol", "--email", "carol@example.com", "--admin", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = User.get(User.username == "carol")
    assert user.is_admin and user.email == "carol@example.com"
    assert "a long enough password" not in user.password_hash


def test_a_user_on_an_internationalized_domain_is_stored_with_the_ascii_form(runner, org):
    result = runner.invoke(
        args=["create-user", "acme", "carol", "--email", "carol@Bücher.example", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert User.get(User.username == "carol").email == "carol@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["nosuch", "carol", "--email", "c@example.com"], "a long enough password\n", "no organization"),
        (["acme", "carol", "--email", "not-an-address"], "a long enough password\n", "email address"),
        (["acme", "carol", "--email", "運用@example.com"], "a long enough password\n", "must be ASCII"),
        (["acme", "carol", "--email", "c@example.com"], "short\n", "at least 10"),
        (["acme", "carol", "--email", "c@example.com"], "carol\n", "at least 10"),
        (
            ["acme", "carol-the-admin", "--email", "c@example.com"],
            "carol-the-admin\n",
            "not be your username",
        ),
    ],
)
def test_create_user_rejects_bad_input(runner, org, args, stdin, message):
    result = runner.invoke(args=["create-user", *args, "--password-stdin"], input=stdin)
    assert result.exit_code == 1
    assert message in result.output
    assert User.select().count() == 0


def test_the_console_script_works_from_a_shell(tmp_path):
    env = {"EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    exe = [sys.executable, "-m", "exastro_mail.cli"]
    first = subprocess.run([*exe, "init-db"], env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "Created the database schema" in first.stdout
    again = subprocess.run([*exe, "init-db"], env=env, capture_output=True, text=True, check=False)
    assert "up to date" in again.stdout
    bad = subprocess.run([*exe, "create-org", "Bad"], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "Error:" in bad.stderr


def test_a_bad_setting_is_named_in_one_line_not_a_traceback(tmp_path):
    env = {
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path),
        "EXASTRO_MAIL_RETENTION_DELIVERY_DAYS": "-1",
        "PATH": "/usr/bin:/bin",
    }
    exe = [sys.executable, "-m", "exastro_mail.cli"]
    answer = subprocess.run([*exe, "prune"], env=env, capture_output=True, text=True, check=False)
    assert answer.returncode == 1
    assert answer.stderr.strip() == (
        "Error: EXASTRO_MAIL_RETENTION_DELIVERY_DAYS must be a number of days (0 or more) or never, not -1."
    )
