"""The fake WeChat server in-process on a free port (of this run's range), for integration tests.

    def test_x(fake_wechat):            # a FakeWechat: .base_url, .keys, .set_faults(), .advance_clock(), ...
        creds = fake_wechat.credentials(notify_url)

`callback_sink` is a tiny HTTP server recording the callbacks the fake posts (its URL is the notify_url).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.fake_wechat.server import FakeWechat

# YIMA_TEST_PORTS="18100-18199" keeps these servers inside a range (shared machines); unset: any free port.
_RANGE = os.environ.get("YIMA_TEST_PORTS", "")


def free_port() -> int:
    if not _RANGE:
        return 0
    low, _, high = _RANGE.partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in YIMA_TEST_PORTS={_RANGE}")


@pytest.fixture(scope="session")
def fake_wechat_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")  # keys are made once per run: RSA generation is slow-ish


@pytest.fixture
def fake_wechat(fake_wechat_var: Path) -> Iterator[FakeWechat]:
    with FakeWechat(fake_wechat_var, port=free_port()) as server:
        yield server


@dataclass
class CallbackSink:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200  # what the sink answers (500 makes the fake retry)


@pytest.fixture
def callback_sink() -> Iterator[CallbackSink]:
    sink = CallbackSink(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            sink.received.append((dict(self.headers.items()), body))
            self.send_response(sink.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    sink.url = f"http://127.0.0.1:{server.server_port}/payouts/callback"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()
