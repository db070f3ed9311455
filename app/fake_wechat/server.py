"""The fake WeChat in a thread of the current process (tests, benches), with a Python control handle
that does what the /_fake/ API does, without HTTP."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app.fake_wechat import create_fake_app
from app.fake_wechat.context import Fake
from app.fake_wechat.keys import DemoKeys
from app.fake_wechat.notifier import Ticker
from app.fake_wechat.state import Clock
from payouts.providers.base import WechatCredentials


class PathOnlyLog(WSGIRequestHandler):
    """The access log without query strings: OAuth and MP calls carry the app secret in theirs."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log("info", '"%s %s" %s', self.command, self.path.split("?", 1)[0], code)


class FakeWechat:
    """`with FakeWechat(var_dir, port=18100) as fw:` serves at fw.base_url until the block ends."""

    def __init__(self, var_dir: Path, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None,
                 persist: bool = False) -> None:
        self.app = create_fake_app(var_dir, clock, persist=persist)
        self._fake: Fake = self.app.extensions["fake_wechat"]
        self._ticker: Ticker = self.app.extensions["fake_wechat_ticker"]
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True,
                                                     request_handler=PathOnlyLog)
        self.base_url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._serve, name="fake-wechat", daemon=True)

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def __enter__(self) -> FakeWechat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._ticker.stop()

    @property
    def keys(self) -> DemoKeys:
        return self._fake.keys

    def credentials(self, notify_url: str, timeout_s: float = 5.0) -> WechatCredentials:
        return self.keys.credentials(self.base_url, notify_url, timeout_s)

    # -- control (the same as /_fake/...) --------------------------------------------------------

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """E.g. set_faults(system_errors={"create": 2}, rate_per_s=5, balance_fen=0, callback_copies=3)."""
        with self._fake.state.lock:
            self._fake.state.faults.update(changes)
            return asdict(self._fake.state.faults)

    def advance_clock(self, seconds: float) -> float:
        with self._fake.state.lock:
            now = self._fake.state.clock.advance(seconds)
        self._fake.state.sweep()
        return now

    def bills(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [b for b in self._fake.state.listing() if kind is None or b["kind"] == kind]

    def bill(self, out_bill_no: str, kind: str = "transfer") -> dict[str, Any] | None:
        return next((b for b in self.bills(kind) if b["out_bill_no"] == out_bill_no), None)

    def confirm(self, out_bill_no: str, kind: str = "transfer") -> bool:
        found = self._fake.state.find(kind, out_bill_no)
        return found is not None and self._fake.state.confirm(found)

    def fail(self, out_bill_no: str, reason: str = "TRANSFER_RISK", kind: str = "transfer") -> None:
        found = self._fake.state.find(kind, out_bill_no)
        if found is not None:
            self._fake.state.finish(found, "FAIL" if kind == "transfer" else "FAILED", reason)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._fake.state.lock:
            return list(self._fake.state.deliveries)

    def wait_deliveries(self, count: int, timeout_s: float = 10.0, ok_only: bool = True) -> list[dict[str, Any]]:
        """Block until at least `count` callback deliveries (answered 2xx unless ok_only=False) happened."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [d for d in self.deliveries() if not ok_only or 200 <= d["status"] < 300]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def reset(self) -> None:
        self._fake.state.reset()
