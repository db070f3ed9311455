"""`codegen generate` stopped mid-way, as a real process: nothing hidden is left to block the re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen import keys
from codegen.staging import PREFIX
from codegen.ticket import BatchTicket, write_ticket

CODEGEN = str(Path(sys.executable).with_name("codegen"))


def _ticket(tmp_path: Path, count: int) -> Path:
    ring, _ = keys.init_keyring(tmp_path / "keys.json")
    keys.save_public_keys(tmp_path / "hq-public.json", ring)
    ticket = BatchTicket(
        batch_id=7, key_id=ring.current, brand="acme", sku="BEER-500", product_name="Lager", gtin=None,
        lot="L1", factory="", line="", production_date=None, count=count, pack=0,
        base_url="https://q.acme.example", batch_key=ring.batch_key(ring.current, 7),
    )
    path = tmp_path / "L1.ticket"
    write_ticket(path, ticket, ring.signing_key(ring.current))
    return path


def _generate(tmp_path: Path, ticket: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "YIMA_HQ_PUBLIC_KEYS": str(tmp_path / "hq-public.json")}
    return subprocess.Popen(
        [CODEGEN, "generate", "--ticket", str(ticket), "--out", str(out), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_mid_way(proc: subprocess.Popen[str], out: Path) -> Path:
    """Wait until the run has written a first file into its staging directory (and is still running)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        stagings = list(out.glob(PREFIX + "*")) if out.is_dir() else []
        if stagings and any(p.suffix in (".csv", ".zip") for p in stagings[0].iterdir()):
            return stagings[0]
        time.sleep(0.02)
    raise AssertionError("generate never got going")


@pytest.mark.parametrize(
    ("sig", "jobs"),
    [(signal.SIGTERM, "1"), (signal.SIGHUP, "1"), (signal.SIGTERM, "2"), (signal.SIGINT, "2")],
)
def test_a_stopped_generate_removes_its_staging_and_says_so(tmp_path: Path, sig: int, jobs: str) -> None:
    # QR images make the run take long enough to be caught mid-way (about a minute if left alone);
    # 100,000 items is above the size where a worker pool is used, so jobs=2 runs the pool.
    ticket = _ticket(tmp_path, 100_000)
    out = tmp_path / "out"
    proc = _generate(tmp_path, ticket, out, "--qr", "png", "--chunk", "500", "--jobs", jobs)
    staging = _wait_mid_way(proc, out)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 128 + sig
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: stopped by {signal.Signals(sig).name}; nothing was kept in {out}"], stderr
    assert "Traceback" not in stderr
    assert not staging.exists() and list(out.iterdir()) == []

    rerun = _generate(tmp_path, ticket, out, "--chunk", "50000")  # the same directory works again
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert (out / "manifest.json").exists() and not list(out.glob(PREFIX + "*"))


def test_a_run_killed_outright_leaves_nothing_that_blocks_the_next(tmp_path: Path) -> None:
    ticket = _ticket(tmp_path, 100_000)
    out = tmp_path / "out"
    proc = _generate(tmp_path, ticket, out, "--qr", "png", "--chunk", "500", "--jobs", "1")
    staging = _wait_mid_way(proc, out)
    proc.kill()  # SIGKILL: no cleanup can run
    proc.communicate(timeout=30)
    assert staging.exists()  # the leftover the next run has to deal with

    rerun = _generate(tmp_path, ticket, out, "--chunk", "50000")
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert not staging.exists() and not list(out.glob(PREFIX + "*"))
    assert (out / "manifest.json").exists()


def test_a_live_runs_staging_is_named_not_removed(tmp_path: Path) -> None:
    ticket = _ticket(tmp_path, 100_000)
    out = tmp_path / "out"
    proc = _generate(tmp_path, ticket, out, "--qr", "png", "--chunk", "500", "--jobs", "1")
    try:
        staging = _wait_mid_way(proc, out)
        second = _generate(tmp_path, ticket, out)
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 1
        assert stderr.strip() == (
            f"error: another codegen generate (pid {proc.pid} on {os.uname().nodename}) is writing into {out} "
            f"({staging.name}): wait for it or stop it, or choose another --out"
        )
        assert staging.exists() and proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_a_staging_directory_without_an_owner_is_named_in_the_error(tmp_path: Path) -> None:
    ticket = _ticket(tmp_path, 10)
    out = tmp_path / "out"
    (out / ".staging-old").mkdir(parents=True)  # as left by a version that recorded no owner
    run = _generate(tmp_path, ticket, out)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 1
    assert stderr.startswith(f"error: output directory {out} holds .staging-old, a hidden staging directory")
    assert f"rm -r '{out / '.staging-old'}'" in stderr
