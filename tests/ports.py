"""Ports for the servers that tests start by number (`exastro-mail serve`, Postfix and Dovecot, Redis).

A port that is free when picked must still be free when the server binds it, a moment later. A port the
kernel handed out (bind to port 0) is not: any socket bound to port 0 in another test process, and any
outgoing connection, may take it in between (an aiosmtpd server of the browser run answered a health
check meant for a gunicorn of another run). So the ports come from below the kernel's ephemeral range,
which neither reaches, and each pytest process has a block of its own: every_engine.py numbers its runs
(EXASTRO_MAIL_TEST_RUN), pytest-xdist its workers (PYTEST_XDIST_WORKER, gw0, gw1, ...).
"""

import itertools
import os
import random
import socket

HOST = "127.0.0.1"
FIRST, BLOCK, BLOCKS = 20000, 180, 64  # 20000 to 31519: below Linux's default ephemeral range (32768)
_RUN_SLOTS = 8  # xdist workers per run given a block of their own


def _block() -> int:
    run = os.environ.get("EXASTRO_MAIL_TEST_RUN")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    if run is None:  # pytest started by hand: a block of the upper half, at random
        return random.randrange(BLOCKS // 2, BLOCKS)  # noqa: S311  # nosec B311  # not a secret
    return (int(run) * _RUN_SLOTS + int(worker) % _RUN_SLOTS) % (BLOCKS // 2)


_start = FIRST + _block() * BLOCK
_candidates = itertools.cycle(range(_start, _start + BLOCK))


def free_port() -> int:
    """A port of this process's block that nothing listens on now; never the same twice in a row."""
    for port in itertools.islice(_candidates, BLOCK):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_start} to {_start + BLOCK - 1}")


def free_ports(count: int) -> list[int]:
    """count different free ports."""
    return [free_port() for _ in range(count)]
