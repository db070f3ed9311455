"""Secrets generated into var/ on first start are created once, whoever gets there first."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from app.config import load_config
from app.runtime import member_secret, ops_token, secret_key

_GETTERS = {"member_secret": member_secret, "secret_key": secret_key, "ops_token": ops_token}


def _race(var_dir: str, name: str, start: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    cfg = load_config({"YIMA_VAR_DIR": var_dir})
    start.wait()
    out.put(_GETTERS[name](cfg))


@pytest.mark.parametrize("name", sorted(_GETTERS))
def test_processes_racing_on_first_start_all_read_one_secret(tmp_path: Path, name: str) -> None:
    # As gunicorn workers booting together on a fresh var/: every one must sign and verify alike.
    ctx = multiprocessing.get_context("fork")
    for round_ in range(4):
        var_dir = tmp_path / f"var{round_}"
        n = 16
        start, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(var_dir), name, start, out)) for _ in range(n)]
        for p in procs:
            p.start()
        values = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        assert len(set(values)) == 1, f"round {round_}: {len(set(values))} different {name} values"
        on_disk = (var_dir / name).read_text().strip()
        assert values[0] in (on_disk, on_disk.encode())
