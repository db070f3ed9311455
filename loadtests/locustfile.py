"""Locust load for POST /api/v1/scans: 85 % first scans of distinct genuine codes, 10 % repeats, 5 % forged.

    LOCUST_CODES_FILE=var/loadtest-codes.txt .venv/bin/locust -f loadtests/locustfile.py \
        --headless -u 20 -r 10 --run-time 30s --host http://127.0.0.1:8000

How to make the codes file and start the server: loadtests/README.md. In short, each line of
LOCUST_CODES_FILE is one genuine, active, never-scanned code (`python -m bench.bench_scan --export-codes`).

- first scan (weight 85): the next unused code of the file; 200 expected.
- repeat (weight 10): a code this process already scanned; 200 expected (status "repeat").
- forged (weight 5): a genuine code with its last tag symbol changed; 404 expected, counted as a success.

Bounded by construction: the run refuses to start without --headless and --run-time, or against any host
but the loopback address, and it stops by itself when the file's codes are used up (so the number of
requests is at most about 1.2 × the number of codes). For the scan benchmark with ratios, use
`make bench-scan` (bench/bench_scan.py), which measures with a much cheaper load generator.

LOCUST_FAST_HTTP=1 switches to FastHttpUser (geventhttpclient): several times less client CPU, which
matters on a small machine where locust shares the cores with the server. With several locust
processes (--processes N, or --master/--worker), set LOCUST_WORKERS=N so each process takes its own
share of the codes.
"""

# ruff: noqa: S311  (random picks codes and positions for a load test: no secrets here)

from __future__ import annotations

import logging
import os
import random
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, HttpUser, between, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

log = logging.getLogger("yima.locust")

SCAN_PATH = "/api/v1/scans"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Phone positions sent with the scans (the scan path turns them into a region, as for a real phone).
POSITIONS = ((31.2304, 121.4737), (39.9042, 116.4074), (23.1291, 113.2644), (30.5728, 104.0668))


def forge(code: str) -> str:
    """A genuine code with its last tag symbol changed: well-formed, but the signature fails."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


class Codes:
    """This process's share of the codes file, handed out once each; plus the codes already scanned."""

    def __init__(self) -> None:
        self.all: list[str] = []
        self.next = 0
        self.scanned: deque[str] = deque(maxlen=20_000)
        self.exhausted = False

    def load(self, path: str, share: int, shares: int) -> None:
        with open(path, encoding="ascii") as fh:
            lines = [line.strip() for line in fh]
        self.all = [code for i, code in enumerate(c for c in lines if c) if i % shares == share]
        self.next = 0
        if not self.all:
            raise ValueError(f"{path} holds no codes for this process")

    def fresh(self) -> str | None:
        if self.next >= len(self.all):
            return None
        code = self.all[self.next]
        self.next += 1
        return code


CODES = Codes()


def _refuse(environment: Any, message: str) -> None:
    log.error("refusing to run: %s", message)
    environment.process_exit_code = 2
    if environment.runner is not None:
        environment.runner.quit()
    raise SystemExit(2)


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return  # the master sends no requests; workers load their share at test start
    opts = environment.parsed_options
    if opts is not None and (not getattr(opts, "headless", False) or not getattr(opts, "run_time", None)):
        _refuse(environment, "run headless with a bounded --run-time (e.g. --headless --run-time 30s)")
    if not os.environ.get("LOCUST_CODES_FILE"):
        _refuse(environment, "set LOCUST_CODES_FILE (make one: python -m bench.bench_scan --export-codes FILE)")


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kwargs: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    host = urlsplit(environment.host or "").hostname
    if host not in LOOPBACK:
        _refuse(environment, f"--host {environment.host!r}: load goes to 127.0.0.1 only")
    share, shares = 0, 1
    if isinstance(environment.runner, WorkerRunner):
        shares = int(os.environ.get("LOCUST_WORKERS", "0"))
        if shares < 1:
            _refuse(environment, "with several locust processes, set LOCUST_WORKERS to their number")
        share = environment.runner.worker_index % shares
    CODES.load(os.environ["LOCUST_CODES_FILE"], share, shares)
    log.info("%d codes for this process (share %d of %d)", len(CODES.all), share, shares)


# HttpUser (requests) by default; FastHttpUser (geventhttpclient) with LOCUST_FAST_HTTP=1.
_Base: Any = FastHttpUser if os.environ.get("LOCUST_FAST_HTTP") == "1" else HttpUser


class ScanUser(_Base):  # type: ignore[misc,valid-type]
    """One phone scanning bottle caps: mostly new codes, some repeats, a few forgeries."""

    host = "http://127.0.0.1:8000"
    wait_time = between(0.0, 0.01)

    def on_start(self) -> None:
        self.device = f"locust-{random.getrandbits(48):012x}"

    def _body(self, code: str) -> dict[str, Any]:
        lat, lng = random.choice(POSITIONS)
        return {"code": code, "device_id": self.device, "lat": lat, "lng": lng}

    def _stop_when_exhausted(self) -> None:
        if not CODES.exhausted:
            CODES.exhausted = True
            log.warning("all %d codes of this process are scanned: stopping the run", len(CODES.all))
            self.environment.runner.quit()
        raise StopUser()

    @task(85)
    def first_scan(self) -> None:
        code = CODES.fresh()
        if code is None:
            self._stop_when_exhausted()
            return
        with self.client.post(SCAN_PATH, json=self._body(code), name=f"{SCAN_PATH} [first]",
                              catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"first scan answered {resp.status_code}")
                return
            status = resp.json().get("status")
            if status != "first":
                resp.failure(f"a never-scanned code answered status {status!r} (codes file reused?)")
                return
            resp.success()
        CODES.scanned.append(code)

    @task(10)
    def repeat_scan(self) -> None:
        if not CODES.scanned:
            self.first_scan()
            return
        code = random.choice(CODES.scanned)
        with self.client.post(SCAN_PATH, json=self._body(code), name=f"{SCAN_PATH} [repeat]",
                              catch_response=True) as resp:
            if resp.status_code == 200 and resp.json().get("status") == "repeat":
                resp.success()
            else:
                resp.failure(f"repeat scan answered {resp.status_code}")

    @task(5)
    def forged_scan(self) -> None:
        if not CODES.all:
            return
        code = forge(random.choice(CODES.all))
        with self.client.post(SCAN_PATH, json=self._body(code), name=f"{SCAN_PATH} [forged]",
                              catch_response=True) as resp:
            if resp.status_code == 404:
                resp.success()  # the right answer to a forged code
            else:
                resp.failure(f"forged code answered {resp.status_code}, expected 404")

