"""A TCP proxy for failure tests: put it between the app and Redis or PostgreSQL, then cut the line.

Modes: "pass" forwards; "refuse" closes every connection (the service is down); "blackhole" accepts and
reads but never answers (a hung network); "stall" keeps every connection open and forwards nothing, new
ones included, until set back to "pass" (a proxy or server stopped with SIGSTOP, then continued).
`drop_next_reply()` forwards the next request and then closes the client's connection instead of
delivering the reply: the command ran, its answer was lost — exactly what makes redis-py retry a command
that already took effect.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, drop_reply: threading.Event | None = None) -> None:
        """`drop_reply`: an event shared by several proxies (one per cluster node) that lose one reply between them."""
        self.target = (target_host, target_port)
        self.mode = "pass"
        self._drop_reply = drop_reply or threading.Event()
        self.dropped_replies = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket | None]] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "refuse", "blackhole", "stall")
        self.mode = mode
        if mode in ("refuse", "blackhole"):
            self._close_all()

    def drop_next_reply(self) -> None:
        self._drop_reply.set()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._close_all()

    def _close_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            for s in (client, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            while self.mode == "stall" and not self._stop.is_set():  # accepted by the kernel, not served
                self._stop.wait(0.05)
            if self.mode == "refuse":
                client.close()
                continue
            upstream = None
            if self.mode == "pass":
                try:
                    upstream = socket.create_connection(self.target, timeout=2)
                except OSError:
                    client.close()
                    continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket | None) -> None:
        sockets = [client] if upstream is None else [client, upstream]
        try:
            while not self._stop.is_set():
                if self.mode == "stall":  # bytes wait in the kernel's buffers, as for a stopped process
                    self._stop.wait(0.05)
                    continue
                readable, _, _ = select.select(sockets, [], [], 0.2)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    if upstream is None:
                        continue  # blackhole: swallow
                    if s is client:
                        upstream.sendall(data)
                    elif self._drop_reply.is_set():
                        self._drop_reply.clear()
                        self.dropped_replies += 1
                        return  # the reply is lost with the connection
                    else:
                        client.sendall(data)
        except (OSError, ValueError):  # a socket closed under us by set_mode/close
            return
        finally:
            for s in sockets:
                with contextlib.suppress(OSError):
                    s.close()
