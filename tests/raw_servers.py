"""Raw TCP servers on loopback that are not SMTP servers: one that greets with another protocol's banner
(SSH, HTTP, a database's bytes), one that accepts and never says a word. Registered by tests/conftest.py."""

import socket
import threading

import pytest

HOST = "127.0.0.1"

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


class RawServer:
    """Accepts connections on loopback; greets each with banner (None: silence) and then reads until
    the client leaves. .connections counts the connections taken."""

    def __init__(self, banner: bytes | None = None):
        self.banner = banner
        self.connections = 0
        self._sock = socket.create_server((HOST, 0), backlog=32)
        self.host = HOST
        self.port = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(connection)
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection: socket.socket):
        try:
            if self.banner:
                connection.sendall(self.banner)
            while connection.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self._sock.close()
        with self._lock:
            for connection in self._open:
                connection.close()


@pytest.fixture
def raw_server_factory():
    """Start RawServers with a banner (or None for one that never speaks); all closed at teardown."""
    servers = []

    def start(banner: bytes | None = None) -> RawServer:
        server = RawServer(banner)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def ssh_server(raw_server_factory) -> RawServer:
    """A server that greets like OpenSSH."""
    return raw_server_factory(SSH_BANNER)


@pytest.fixture
def silent_server(raw_server_factory) -> RawServer:
    """A server that accepts connections and never sends a byte."""
    return raw_server_factory(None)
