"""Helpers for the real-browser test: run `yima run` exactly as `make run` does, and a phone-sized Chromium.

`YimaRun` starts `.venv/bin/yima run` in its own process group with a fresh, short YIMA_VAR_DIR (the
embedded Redis listens on a Unix socket inside it, and socket paths must stay under ~100 characters), a
free PORT and none of the REDIS_URL / DATABASE_URL overrides, so it gets the embedded defaults a new user
gets. It reads the banner `yima run` prints, keeps draining the output (so the pipe never fills and a
failure can show everything that was printed), and on stop: SIGTERM to the group, SIGKILL if needed,
`yima stop-redis`, and removal of the temp dir.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# WeChat's in-app browser on Android (X5/XWEB), where most scans of a Chinese bottle cap are opened.
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MMWEBID/2246 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin "
    "NetType/WIFI Language/zh_CN ABI/arm64"
)
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": WECHAT_UA,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}

# Settings a developer's shell may carry that would take `yima run` off the embedded default.
_OVERRIDES = ("REDIS_URL", "DATABASE_URL", "HOST", "PORT")

STARTUP_TIMEOUT = 60.0
HEALTH_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0  # `yima run` gives each child 15 s before killing it
LEFTOVER_GRACE = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def yima_executable() -> str:
    found = shutil.which("yima", path=os.path.dirname(sys.executable))
    if not found:
        raise RuntimeError(f"no `yima` script next to {sys.executable}: is the project installed in this venv?")
    return found


@dataclass
class DemoUrls:
    inner: str
    outer: str
    forged: str
    more_inner: tuple[str, ...] = ()


@dataclass
class YimaRun:
    """One `yima run` in its own process group; use as a context manager."""

    var_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="yb-")))
    port: int = field(default_factory=free_port)
    lines: list[str] = field(default_factory=list)
    startup_seconds: float = 0.0
    stop_seconds: float = 0.0
    stop_report: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # a test's own departures, said where it sets them
    _proc: subprocess.Popen[str] | None = None
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _reader: threading.Thread | None = None
    _stop_started: float = 0.0

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _OVERRIDES and not k.startswith("YIMA_")}
        env["YIMA_VAR_DIR"] = str(self.var_dir)
        env["PORT"] = str(self.port)
        # The one departure from a new user's defaults: CI machines are loaded, and a Redis stall past
        # the production 60 ms budget would turn a page into "service busy" (tested on its own elsewhere).
        env["YIMA_REDIS_TIMEOUT_MS"] = "1000"
        env.update(self.extra_env)
        return env

    def output(self) -> str:
        return "".join(self.lines)

    # -- start ---------------------------------------------------------------------------------------

    def start(self) -> DemoUrls:
        started = time.monotonic()
        self._proc = subprocess.Popen(
            [yima_executable(), "run"],
            cwd=REPO_ROOT,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # its own process group: gunicorn, its workers and the RQ worker too
        )
        self._reader = threading.Thread(target=self._read, name="yima-run-output", daemon=True)
        self._reader.start()
        self._wait_for_banner(started + STARTUP_TIMEOUT)
        urls = self._demo_urls()
        self._wait_healthy(time.monotonic() + HEALTH_TIMEOUT)
        self.startup_seconds = time.monotonic() - started
        return urls

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def _fail(self, why: str) -> None:
        raise AssertionError(f"{why}\n--- `yima run` output so far ---\n{self.output()}--- end ---")

    def _wait_for_banner(self, deadline: float) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"`yima run` did not print 'yima is up:' within {STARTUP_TIMEOUT:.0f}s")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                assert self._proc is not None
                self._fail(f"`yima run` exited (status {self._proc.wait()}) before printing 'yima is up:'")
            elif line.startswith("yima is up:"):
                return

    def _demo_urls(self) -> DemoUrls:
        found: dict[str, str] = {}
        more: tuple[str, ...] = ()
        for line in self.lines:
            if "more inner codes:" in line:
                more = tuple(line.split("more inner codes:", 1)[1].split())
                continue
            for label in ("inner code", "outer code", "forged code"):
                if label in line and "://" in line.split(label, 1)[1]:
                    found[label] = line.split()[-1]
        missing = [label for label in ("inner code", "outer code", "forged code") if label not in found]
        if missing:
            self._fail(f"`yima run` printed no demo URL for: {', '.join(missing)}")
        return DemoUrls(found["inner code"], found["outer code"], found["forged code"], more)

    def _wait_healthy(self, deadline: float) -> None:
        last = "no answer"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._fail(f"`yima run` exited (status {self._proc.returncode}) before /healthz answered")
            try:
                with urllib.request.urlopen(f"{self.site}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
                exc.close()
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        self._fail(f"GET /healthz did not answer 200 within {HEALTH_TIMEOUT:.0f}s (last: {last})")

    # -- stop ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Always safe to call: stops the group, the embedded Redis, and removes the temp dir."""
        started = self._stop_started = time.monotonic()
        try:
            if self._proc is not None:
                self._stop_group(self._proc)
        finally:
            self.stop_seconds = time.monotonic() - started
            try:
                result = subprocess.run(
                    [yima_executable(), "stop-redis"],
                    env=self.env(),
                    cwd=REPO_ROOT,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
                self.stop_report.append(f"stop-redis: {result.stdout.strip()} {result.stderr.strip()}".strip())
            finally:
                if self._reader is not None:
                    self._reader.join(timeout=5)
                if self._proc is not None and self._proc.stdout is not None:
                    self._proc.stdout.close()
                shutil.rmtree(self.var_dir, ignore_errors=True)

    def _stop_group(self, proc: subprocess.Popen[str]) -> None:
        """SIGTERM the group (what Ctrl-C in a terminal does, with SIGINT); SIGKILL whatever stays.

        RQ forks each job's "work horse" into a process group of its own, so the horse is not reached by
        signals to our group: every descendant is noted (pid and start time, against pid reuse) before
        signalling, and any still alive once `yima run` has exited is killed by its pid and reported.
        """
        pgid = proc.pid  # start_new_session: the leader's pid is the group id
        descendants = _descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop_report.append(f"`yima run` still running {STOP_TIMEOUT:.0f}s after SIGTERM: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.stop_report.append(f"`yima run` exited {time.monotonic() - self._stop_started:.1f}s after SIGTERM")
        deadline = time.monotonic() + LEFTOVER_GRACE
        while True:
            left = {pid: info for pid, info in descendants.items() if _same_process(pid, info[0])}
            if not left and not _group_alive(pgid):
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.stop_report.append(
            f"{len(left)} process(es) outlived `yima run` by {LEFTOVER_GRACE:.0f}s, SIGKILLed: "
            + ", ".join(f"{pid} (pgid {info[1]}) {info[2]}" for pid, info in left.items())
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        for pid, info in left.items():
            if _same_process(pid, info[0]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> YimaRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in the group."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None and st[1] == pgid:
            return True
    return False


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, start time) of a live process from /proc, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _descendants(root: int) -> dict[int, tuple[int, int, str]]:
    """pid -> (start time, pgid, command line) of every live descendant of root."""
    table: dict[int, tuple[int, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = st
    found: dict[int, tuple[int, int, str]] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, pgid, start) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = (start, pgid, _cmdline(pid))
                frontier.append(pid)
    return found


def _same_process(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[2] == start


@contextlib.contextmanager
def serve_app(app: Any, port: int = 0) -> Iterator[str]:
    """The app on a threaded werkzeug server on a loopback port (0: a free one the OS picks); yields its URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def sign_in(page: Any, site: str, email: str, password: str) -> None:
    """Through the console's login form, as a person does; fails with the page's text if refused."""
    page.goto(f"{site}/ops/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/ops/login" not in page.url, page.inner_text("main")


def watch_problems(page: Any) -> list[str]:
    """Script errors, CSP violations and failed assets the page meets (a 4xx document is on purpose)."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda resp: problems.append(f"{resp.status} {resp.url}")
            if resp.status >= 400 and resp.request.resource_type != "document"
            and not resp.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def no_sideways_scroll(page: Any, width: int) -> None:
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways at {width} px ({scroll} px wide)"
