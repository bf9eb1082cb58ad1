"""Run the whole test suite on SQLite, PostgreSQL and MariaDB side by side; exit non-zero if any run fails.

    python tests/every_engine.py [pytest arguments...]

Each run is its own pytest session on one engine (EXASTRO_MAIL_TEST_DATABASE, see
tests/engine_fixtures.py), spread over pytest-xdist processes; their databases and Redis keys are named
after the process, so they never meet. A server that does not answer
skips its run here and fails it in CI (CI=true). Each run's output is printed whole when it ends.

A run that has not ended after RUN_DEADLINE_SECONDS is ended, with every process it started (each run
is a process group of its own), and reported as failed with what it printed so far: a test that hangs
is failed by pytest-timeout first (pyproject.toml), with every thread's stack, but a hang outside a
test (collection, a session fixture's teardown, a stuck xdist worker) would otherwise hold CI until
its own limit, with nothing printed.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Modules that never open a database run on SQLite only: on another engine they would test nothing new.
# So do those whose subject is not the store but what is said or sent: the browser (the same views run
# on every engine through the Flask-client tests), the real MTA (the SMTP dialogue), Exastro's codes
# and messages, translations, OAuth peers, the host policy, request limits, the code's shape and
# gunicorn's threads. What the store keeps (settings, outbox, logs, sessions, tokens, accounts,
# migrations, retention) runs on every engine.
SQLITE_ONLY = (
    "tests/test_exastro_clients.py",
    "tests/test_exastro_messages.py",
    "tests/test_i18n.py",
    "tests/test_i18n_pages.py",
    "tests/test_settings_page.py",
    "tests/test_oauth_tokens.py",
    "tests/test_oauth_xoauth2.py",
    "tests/test_oauth_graph.py",
    "tests/test_oauth_service_account_key.py",
    "tests/test_deny_private_hosts.py",
    "tests/test_api_openapi.py",
    "tests/test_serve_under_attack.py",
    "tests/test_request_limits.py",
    "tests/test_port_advice.py",
    "tests/test_quickstart.py",
    "tests/test_front_page_and_small_things.py",
    "tests/test_test_mail_limits.py",
    "tests/test_hostile_urls_and_names.py",
    "tests/test_smtp_transport.py",
    "tests/test_smtp_diagnose.py",
    "tests/test_mailserver_rules.py",
    "tests/test_packaging.py",
    "tests/test_mime.py",
    "tests/test_code_shape.py",
    "tests/test_security_lint.py",
    "tests/test_library_internals.py",
    "tests/test_not_an_smtp_server.py",
    "tests/test_real_mta.py",
    "tests/test_serve_during_slow_test_mails.py",
    "tests/test_gunicorn_control_socket.py",
    "tests/test_outbox_supervisor.py",
    "tests/test_every_engine.py",
    "tests/browser",
)


# (name, engine, pytest-xdist processes, what it runs). Each process takes whole modules (--dist
# loadfile, so a module's fixtures are made once): much of the suite waits on real servers, workers,
# browsers and timeouts, and a second process of a run uses the CPU meanwhile. The browser tests wait
# on a served app and a browser more than they use the CPU: a run of their own takes them off the
# SQLite run's path. Schemathesis gives the tests it generates one node id for all, and pytest-xdist,
# which hands tests out by node id, would run one of them: that module has a run of one process.
OPENAPI = "tests/test_api_openapi.py"
# That run would end minutes before the others, the SQLite run last of all: it also takes the SQLite-only
# modules that mostly wait on the servers and processes they start (Postfix and Dovecot, gunicorn, pip).
BESIDE_OPENAPI = (
    "tests/test_real_mta.py",
    "tests/test_serve_under_attack.py",
    "tests/test_serve_during_slow_test_mails.py",
    "tests/test_outbox_supervisor.py",
    "tests/test_packaging.py",
    "tests/test_gunicorn_control_socket.py",
    "tests/test_quickstart.py",
)
ONE_PROCESS = (OPENAPI, *BESIDE_OPENAPI)
# Four times the slowest run on a busy 2-core machine (about 7 minutes; docs/benchmarks.md, "The suite's
# time"): a slower CI machine must not be cut short, and a hang still ends long before CI's own limit.
RUN_DEADLINE_SECONDS = 30 * 60
RUNS = (
    ("sqlite", "sqlite", 2, ["--ignore=tests/browser", *(f"--ignore={module}" for module in ONE_PROCESS)]),
    ("postgres", "postgres", 2, [f"--ignore={module}" for module in SQLITE_ONLY]),
    ("mariadb", "mariadb", 2, [f"--ignore={module}" for module in SQLITE_ONLY]),
    ("browser", "sqlite", 2, ["tests/browser"]),
    ("openapi and servers", "sqlite", 1, list(ONE_PROCESS)),
)


# Plugins only the OpenAPI tests use: loading them costs each pytest process of the other runs 0.4 s.
OPENAPI_PLUGINS = ("schemathesis", "hypothesispytest")


def command(processes: int, selection: list[str], extra: list[str]) -> list[str]:
    spread = ["-n", str(processes), "--dist", "loadfile"] if processes > 1 else []
    unused = [] if OPENAPI in selection else [f"-p no:{name}" for name in OPENAPI_PLUGINS]
    plugins = [part for option in ["-p no:cacheprovider", *unused] for part in option.split()]
    return [sys.executable, "-m", "pytest", "-q", *plugins, *spread, *selection, *extra]


def environment(engine: str, run: int) -> dict:
    # EXASTRO_MAIL_TEST_RUN: the run's number, for its own block of ports (tests/ports.py).
    env = {**os.environ, "EXASTRO_MAIL_TEST_DATABASE": engine, "EXASTRO_MAIL_TEST_RUN": str(run)}
    # Without bytecode files every process the suite starts (servers, workers, the CLI) compiles the
    # package from source, and pytest rewrites every test module again: seconds of CPU each.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def main(extra: list[str]) -> int:
    started = time.monotonic()
    runs = []
    # The runs are process groups of their own, which Ctrl+C or a SIGTERM to this one does not reach.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="exastro-mail-tests-") as folder:
        try:
            for number, (name, engine, processes, selection) in enumerate(RUNS):
                output = open(Path(folder) / f"{name}.log", "w+b")  # noqa: SIM115 (closed below)
                process = subprocess.Popen(
                    command(processes, selection, extra),
                    cwd=ROOT,
                    env=environment(engine, number),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a process group: ended whole if it overruns (finish)
                )
                runs.append((f"{name} (EXASTRO_MAIL_TEST_DATABASE={engine})", process, output))
            results = [
                report(engine, finish(process, started + RUN_DEADLINE_SECONDS), output)
                for engine, process, output in runs
            ]
        finally:
            for _, process, _ in runs:
                end_group(process)
    print(f"=== every engine, side by side, in {time.monotonic() - started:.0f} s ===")
    for engine, code, summary in results:
        print(f"{engine}: {'ok' if code == 0 else 'FAILED'} {summary}")
    return 0 if all(code == 0 for _, code, _ in results) else 1


def report(engine: str, code: int | None, output) -> tuple[str, int | None, str]:
    """Print a run's output whole; (engine, exit code, its last line)."""
    output.seek(0)
    text = output.read().decode(errors="replace")
    output.close()
    print(f"=== the suite: {engine} ===", flush=True)
    print(text, end="" if text.endswith("\n") else "\n", flush=True)
    summary = text.strip().splitlines()[-1] if text.strip() else "no output"
    if code is None:
        summary = f"did not end in {RUN_DEADLINE_SECONDS} s and was ended (its output above)"
    return engine, code, summary


def finish(process: subprocess.Popen, deadline: float) -> int | None:
    """The run's exit code; None if it had not ended by the deadline (monotonic)."""
    try:
        return process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return None


def end_group(process: subprocess.Popen) -> None:
    """Kill what is left of a run's process group: the run itself, if it overran or we were stopped,
    and whatever a test left behind, which would go on using the CPU."""
    with contextlib.suppress(ProcessLookupError):  # nothing was left
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
