"""`make run` (exastro-mail quickstart) tells a newcomer how to send through a relay on their machine,
which the host policy refuses by default."""

import os
import sys
from pathlib import Path

from tests.test_worker_processes import Processes, free_port, wait_until

EXASTRO_MAIL = str(Path(sys.executable).parent / "exastro-mail")
RELAY_HINT = "To send through a relay on this machine, set EXASTRO_MAIL_SMTP_ALLOWED_HOSTS=127.0.0.1"


def quickstart_output(tmp_path, **settings) -> str:
    processes = Processes(tmp_path)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("EXASTRO_MAIL_") or key == "EXASTRO_MAIL_TEST_DATABASE"
    }
    env.update({f"EXASTRO_MAIL_{name}": value for name, value in settings.items()})
    env["EXASTRO_MAIL_INSTANCE_PATH"] = str(tmp_path / "instance")
    process = processes.start([EXASTRO_MAIL, "quickstart", "--port", str(free_port())], env)
    try:
        wait_until(lambda: "Stop with Ctrl+C" in processes.output(process), 30, "quickstart to start")
        return processes.output(process)
    finally:
        processes.stop_all()


def test_quickstart_says_how_to_allow_a_local_relay(tmp_path):
    output = quickstart_output(tmp_path)
    assert "Log in at http://127.0.0.1:" in output
    assert RELAY_HINT in output


def test_quickstart_says_nothing_of_it_once_a_relay_is_allowed(tmp_path):
    assert RELAY_HINT not in quickstart_output(tmp_path, SMTP_ALLOWED_HOSTS="127.0.0.1")
