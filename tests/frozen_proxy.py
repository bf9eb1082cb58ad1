"""A TCP proxy in front of a database server that can freeze: it then keeps every connection open and
forwards nothing, as a hung server, a stopped process or a stuck middlebox does. The kernel still
accepts and acknowledges, so nothing on the client's side notices but time."""

import contextlib
import socket
import threading


class FrozenProxy:
    """Forwards 127.0.0.1:<port> to target until freeze(); thaw() lets bytes through again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._flowing = threading.Event()
        self._flowing.set()
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closing.set()
        self._flowing.set()
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()  # a connection made while frozen is held open, unanswered
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self._sockets.append(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                self._flowing.wait()  # frozen: what arrived is kept, nothing goes on
                if not data or self._closing.is_set():
                    break
                sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
