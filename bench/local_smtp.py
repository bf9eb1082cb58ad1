"""A local SMTP server for the benchmark: aiosmtpd on 127.0.0.1 that accepts every mail.

`delay` (seconds, changeable while it runs) is waited before every reply, greeting included (once per
reply, however many lines it has), so one server plays both "answers at once" and "takes 1 s per reply".
"""

import asyncio
import socket

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

HOST = "127.0.0.1"


class _Counter:
    """aiosmtpd handler that accepts and counts every message."""

    def __init__(self):
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        return "250 OK queued"


class _DelayedSmtp(SMTP):
    def __init__(self, sink: "LocalSmtpServer", *args, **kwargs):
        self._sink = sink
        super().__init__(*args, **kwargs)

    async def push(self, status):
        # One delay per reply: a multi-line reply (EHLO) waits only before its last line ("250 ...").
        if self._sink.delay and status[3:4] != "-":
            await asyncio.sleep(self._sink.delay)
        await super().push(status)


class _Controller(Controller):
    def __init__(self, sink: "LocalSmtpServer", port: int):
        self._sink = sink
        super().__init__(sink.handler, hostname=HOST, port=port)

    def factory(self):
        return _DelayedSmtp(self._sink, self.handler, loop=self.loop)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class LocalSmtpServer:
    """An SMTP server on loopback; start(), then read .port and .received; stop() when done."""

    def __init__(self):
        self.handler = _Counter()
        self.delay = 0.0
        self.port = free_port()
        self._controller = _Controller(self, self.port)

    @property
    def received(self) -> int:
        return self.handler.received

    def start(self) -> "LocalSmtpServer":
        self._controller.start()  # its readiness probe needs an undelayed greeting: set delay after
        return self

    def stop(self) -> None:
        self.delay = 0.0
        self._controller.stop()
