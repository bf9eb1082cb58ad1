"""The exastro-mail command: init-db, create-org, create-user, serve, worker, prune, quickstart."""

import contextvars
import logging
import os
import secrets
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from .auth import accounts, initial_password
from .backup.commands import COMMANDS as BACKUP_COMMANDS
from .logs.retention import prune_command
from .outbox.supervisor import SupervisedWorker
from .store import migrations
from .store.maintenance import maintenance_deadline
from .store.models import Organization, User


def init_app(app) -> None:
    """Register the commands on the app (so `flask --app exastro_mail` has them too)."""
    commands = (init_db, create_org, create_user, serve, quickstart, worker, prune_command, *BACKUP_COMMANDS)
    for command in commands:
        app.cli.add_command(command)


def _fail(message: str):
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or migrate the database schema (safe to run again)."""
    with maintenance_deadline(current_app):
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


# The outbox worker beside the web server is a fresh interpreter running `exastro-mail worker`: it reads
# the same EXASTRO_MAIL_* environment, and nothing of gunicorn's forking reaches it. It runs at the web
# workers' priority: it needs little CPU (0.17 of 2 cores to keep up with bench/load.py's mixed load),
# but it must get SQLite's write lock and the CPU soon when it asks, or reset mails fall behind (at
# nice 10 the p95 from request to sent was 11-15 s, and notifications piled up without end;
# docs/benchmarks.md).
WORKER_COMMAND = [sys.executable, "-c", "from exastro_mail.cli import main; main()", "worker"]
WORKER_STOP_SECONDS = 30


# Threads per web worker: 1 runs gunicorn's sync workers, each serving one request at a time. Nothing a
# request does waits on another server for long (a test mail goes on beside it: mailserver/test_runs.py),
# and threads in one process share its GIL: on 2 cores, 4 threads a worker served the login page at 0.6x
# of sync workers (docs/benchmarks.md).
DEFAULT_THREADS = 1


def run_server(
    app, host: str, port: int, workers: int, *, threads: int = DEFAULT_THREADS, outbox_worker: bool = True
) -> None:
    """Serve the app with gunicorn, with the outbox worker in a child process beside it."""
    from .store.db import db
    from .web import metrics
    from .web.gunicorn_server import GunicornServer

    db.close()  # forked workers must open their own connections
    metrics.prepare_processes(app)  # before any process starts: they all count into one folder
    child = None
    if outbox_worker:
        _log_to_stderr("exastro_mail.serve", "serve")
        child = SupervisedWorker([*WORKER_COMMAND, "--parent-pid", str(os.getpid())], WORKER_STOP_SECONDS)
    try:
        # Run outside the command's app context (an empty contextvars.Context): forked workers would
        # otherwise share its `g` between requests, and with it one CSRF token and a stale "valid" mark.
        server = GunicornServer(
            app, bind=f"{host}:{port}", workers=workers, threads=threads, reap_first=child and child.reap
        )
        contextvars.Context().run(server.run)
    finally:
        if child is not None:
            child.stop()


def _log_to_stderr(name: str, label: str) -> logging.Logger:
    """The logger name, writing INFO and above to stderr as "time [label pid] LEVEL message"."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        line = f"%(asctime)s [{label} %(process)d] %(levelname)s %(message)s"
        handler.setFormatter(logging.Formatter(line))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=DEFAULT_THREADS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests each worker serves at once (more than 1: gunicorn's gthread workers).",
)
@click.option(
    "--no-outbox-worker",
    is_flag=True,
    help="Do not start the outbox worker (run `exastro-mail worker` elsewhere).",
)
@with_appcontext
def serve(host, port, workers, threads, no_outbox_worker):
    """Run the production web server (gunicorn) and the outbox worker."""
    click.echo(f"exastro-mail listening on http://{host}:{port}/")
    app = current_app._get_current_object()
    run_server(app, host, port, workers, threads=threads, outbox_worker=not no_outbox_worker)


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--parent-pid", type=int, hidden=True, help="Stop when this process (the server) is gone.")
@click.option(
    "--nice",
    default=0,
    show_default=True,
    type=click.IntRange(0, 19),
    help="Run at a lower CPU priority (as nice(1)): mail yields to other work, and falls behind under load.",
)
@with_appcontext
def worker(once, parent_pid, nice):
    """Deliver queued mail from the outbox until stopped (SIGTERM or Ctrl+C finish the message in hand)."""
    from .outbox.worker import run_worker

    if nice:
        os.nice(nice)

    outbox_log = _log_to_stderr("exastro_mail.outbox", "outbox")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if parent_pid:
        threading.Thread(target=_stop_when_orphaned, args=(parent_pid, stop), daemon=True).start()
    outbox_log.info("outbox worker started")
    run_worker(current_app._get_current_object(), once=once, stop_event=stop)
    outbox_log.info("outbox worker stopped")


def _stop_when_orphaned(parent_pid: int, stop: threading.Event) -> None:
    """Set stop once the server is gone (one killed with SIGKILL cannot stop its worker itself)."""
    while os.getppid() == parent_pid and not stop.wait(1.0):
        pass
    stop.set()


@click.command("quickstart")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def quickstart(host, port):
    """Prepare the embedded database with an organization 'example' and an admin, then serve."""
    app = current_app._get_current_object()
    if not app.config.get("BASE_URL"):
        # Reset links need the address users reach; the outbox worker child reads it from the environment.
        reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104  # nosec B104  # compared, not bound
        base_url = f"http://[{reachable}]:{port}" if ":" in reachable else f"http://{reachable}:{port}"
        app.config["BASE_URL"] = os.environ["EXASTRO_MAIL_BASE_URL"] = base_url
    with maintenance_deadline(app):
        migrations.migrate()
    organization = Organization.get_or_none(Organization.org_id == "example")
    if organization is None:
        organization = accounts.create_organization("example", "Example organization")
    base = f"http://{host}:{port}"
    click.echo("")
    click.echo(f"  exastro-mail is listening on {base}/")
    click.echo(f"  Log in at {base}/example/login as 'admin'.")
    for line in _admin_password_lines(app, organization):
        click.echo(f"  {line}")
    if app.config["SMTP_DENY_PRIVATE_HOSTS"] and not app.config["SMTP_ALLOWED_HOSTS"]:
        click.echo("  Mail servers on this machine or a private network are refused by default.")
        click.echo("  To send through a relay on this machine, set EXASTRO_MAIL_SMTP_ALLOWED_HOSTS=127.0.0.1")
    click.echo("  Stop with Ctrl+C.")
    click.echo("")
    run_server(app, host, port, workers=2)


def _admin_password_lines(app, organization) -> list[str]:
    """Make the admin with a generated password on first start; say where that password is while it
    still works, and that it is gone once the admin chose their own."""
    admin = User.get_or_none(User.organization == organization, User.username == "admin")
    if admin is None:
        password = secrets.token_urlsafe(12)
        accounts.create_user(
            organization, "admin", "admin@example.com", password, admin=True, must_change_password=True
        )
        initial_password.write_initial_password(app.instance_path, password)
        works = True
    else:
        works = initial_password.initial_password_still_works(app.instance_path, admin.password_hash)
    path = initial_password.initial_password_path(app.instance_path)
    if works:
        return [
            f"The initial password is in {path}",
            f"(show it with: cat {path}); you choose your own at the first login.",
        ]
    if works is False:  # changed before exastro-mail removed the file on a password change
        path.unlink(missing_ok=True)
    return ["Use the password you chose (the initial password file was removed when it was changed)."]


def main():
    """Entry point of the exastro-mail console script."""
    from . import create_app
    from .config import ConfigError

    def create_app_or_explain():
        try:
            return create_app()
        except ConfigError as error:  # a setting the admin typed: its name and what is wrong, no traceback
            _fail(str(error))

    cli = FlaskGroup(create_app=create_app_or_explain, add_default_commands=False, help=__doc__)
    cli.main(prog_name="exastro-mail")


if __name__ == "__main__":
    main()
