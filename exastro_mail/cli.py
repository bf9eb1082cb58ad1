"""The exastro-mail command: init-db, create-org, create-user, serve, worker, quickstart."""

import os
import secrets
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import accounts, migrations
from .models import Organization, User


def init_app(app) -> None:
    """Register the commands on the app (so `flask --app exastro_mail` has them too)."""
    for command in (init_db, create_org, create_user, serve, quickstart):
        app.cli.add_command(command)


def _fail(message: str):
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or migrate the database schema (safe to run again)."""
    before, after = migrations.migrate()
    if before is None:
        click.echo(f"Created the database schema (version {after}).")
    elif before == after:
        click.echo(f"The database schema is up to date (version {after}).")
    else:
        click.echo(f"Migrated the database schema from version {before} to {after}.")


@click.command("create-org")
@click.argument("org_id")
@click.option("--name", help="Display name (defaults to the ID).")
@with_appcontext
def create_org(org_id, name):
    """Create an organization."""
    try:
        organization = accounts.create_organization(org_id, name)
    except accounts.AccountError as error:
        _fail(str(error))
    click.echo(f"Created organization '{organization.org_id}'.")


@click.command("create-user")
@click.argument("org_id")
@click.argument("username")
@click.option("--email", required=True, help="The user's mail address.")
@click.option("--admin", is_flag=True, help="Make the user an organization administrator.")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
@with_appcontext
def create_user(org_id, username, email, admin, password_stdin):
    """Create a user in an organization, reading the password from standard input."""
    organization = Organization.get_or_none(Organization.org_id == org_id)
    if organization is None:
        _fail(f"There is no organization '{org_id}'.")
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        user = accounts.create_user(organization, username, email, password, admin=admin)
    except accounts.AccountError as error:
        _fail(str(error))
    role = "administrator" if user.is_admin else "user"
    click.echo(f"Created {role} '{user.username}' in '{org_id}'.")


def run_server(app, host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn (sync workers)."""
    from .db import db
    from .server import GunicornServer

    db.close()  # forked workers must open their own connections
    GunicornServer(app, bind=f"{host}:{port}", workers=workers).run()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve(host, port, workers):
    """Run the production web server (gunicorn)."""
    click.echo(f"exastro-mail listening on http://{host}:{port}/")
    run_server(current_app._get_current_object(), host, port, workers)


INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 (a file name)


@click.command("quickstart")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def quickstart(host, port):
    """Prepare the embedded database with an organization 'example' and an admin, then serve."""
    app = current_app._get_current_object()
    migrations.migrate()
    organization = Organization.get_or_none(Organization.org_id == "example")
    if organization is None:
        organization = accounts.create_organization("example", "Example organization")
    password_file = os.path.join(app.instance_path, INITIAL_PASSWORD_FILE)
    if User.get_or_none(User.organization == organization, User.username == "admin") is None:
        password = secrets.token_urlsafe(12)
        accounts.create_user(organization, "admin", "admin@example.com", password, admin=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
    base = f"http://{host}:{port}"
    click.echo("")
    click.echo(f"  exastro-mail is listening on {base}/")
    click.echo(f"  Log in at {base}/example/login as 'admin'.")
    click.echo(f"  The initial password is in {password_file}")
    click.echo(f"  (show it with: cat {password_file})")
    click.echo("  Stop with Ctrl+C.")
    click.echo("")
    run_server(app, host, port, workers=2)


def main():
    """Entry point of the exastro-mail console script."""
    from . import create_app

    cli = FlaskGroup(create_app=create_app, add_default_commands=False, help=__doc__)
    cli.main(prog_name="exastro-mail")


if __name__ == "__main__":
    main()
