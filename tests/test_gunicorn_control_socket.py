"""Two `exastro-mail serve` instances run by one user: each keeps gunicorn's control socket (for
gunicornc) in its own instance folder, not both at $HOME/.gunicorn/gunicorn.ctl."""

import os
import subprocess
import sys
from pathlib import Path

from exastro_mail.web.gunicorn_server import control_socket_options
from tests.test_metrics import get
from tests.test_serve_under_attack import EXASTRO_MAIL
from tests.test_worker_processes import Processes, free_port, wait_until

GUNICORNC = str(Path(sys.executable).parent / "gunicornc")


def test_two_instances_of_one_user_each_answer_on_their_own_control_socket(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    processes = Processes(tmp_path)
    instances = {}
    for name in ("first", "second"):
        port = free_port()
        env = {**os.environ, "HOME": str(home), "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / name)}
        env.pop("XDG_RUNTIME_DIR", None)
        env.pop("EXASTRO_MAIL_DATABASE_URL", None)  # each on the SQLite file of its instance folder
        subprocess.run([EXASTRO_MAIL, "init-db"], env=env, check=True, capture_output=True)
        command = [EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "1", "--no-outbox-worker"]
        processes.start(command, env)
        instances[name] = (f"http://127.0.0.1:{port}", tmp_path / name / "gunicorn.ctl")
    try:
        for base, socket in instances.values():
            wait_until(lambda base=base: get(base + "/healthz")[0] == 200, 20, "the server to answer")
            wait_until(socket.exists, 5, "the control socket")
        masters = {
            name: subprocess.run(
                [GUNICORNC, "-s", str(socket), "-c", "show workers", "-j"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            for name, (_, socket) in instances.items()
        }
    finally:
        processes.stop_all()
    assert not (home / ".gunicorn").exists()
    assert all(masters.values()) and masters["first"] != masters["second"], masters  # other workers' pids


def test_an_instance_folder_too_deep_for_a_socket_path_goes_without_one(tmp_path):
    deep = str(tmp_path / ("x" * 120))
    assert control_socket_options(deep) == {"control_socket_disable": True}
    assert control_socket_options("/var/lib/exastro-mail") == {
        "control_socket": "/var/lib/exastro-mail/gunicorn.ctl"
    }
