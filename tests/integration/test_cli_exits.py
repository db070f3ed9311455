"""How the real `codegen` and `yima` programs end: one `error:` line and status 1, or quietly on a closed pipe."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_codegen_cli import run  # noqa: F401  (the fixture)

BIN = Path(sys.executable).parent


def _program(name: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.mark.parametrize(
    ("argv", "fragment", "where"),
    [
        (("codegen", "generate", "--out", "o"), "Missing option '--ticket'", "codegen generate"),
        (("codegen", "generate", "--ticket", "t", "--out", "o", "--chunk", "0"), "'--chunk'", "codegen generate"),
        (("codegen", "batch", "nope"), "No such command 'nope'", "codegen batch"),
        (("codegen", "activate", "--batch", "x"), "'x' is not a valid integer", "codegen activate"),
        (("yima", "run", "--workers", "0"), "'--workers'", "yima run"),
        (("yima", "reconcile", "--bogus"), "--bogus", "yima reconcile"),
    ],
)
def test_usage_errors_are_one_error_line_and_status_1(
    tmp_path: Path, argv: tuple[str, ...], fragment: str, where: str
) -> None:
    result = _program(*argv, cwd=tmp_path, env={**os.environ, "YIMA_VAR_DIR": str(tmp_path / "var")})
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and fragment in line and line.endswith(f"; see '{where} --help'"), line


def test_help_still_works(tmp_path: Path) -> None:
    for name in ("codegen", "yima"):
        result = _program(name, "--help")
        assert result.returncode == 0 and result.stdout.startswith(f"Usage: {name} ")


def _with_closed_stdout(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader is already gone, as in `… | head -1` once head has exited."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([str(BIN / argv[0]), *argv[1:]], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write_end)


def test_a_closed_stdout_ends_quietly(run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme")
    run("product", "add", "--sku", "S1", "--name", "Thing")
    for lot in ("L1", "L2", "L3"):
        run("batch", "new", "--sku", "S1", "--lot", lot, "--count", "5", "--ticket", f"{lot}.ticket")
    for argv in (("codegen", "batch", "list"), ("codegen", "keys", "show"), ("codegen", "--help"),
                 ("yima", "--help")):
        result = _with_closed_stdout(*argv)
        assert (result.returncode, result.stderr) == (141, ""), argv


def test_a_shell_pipe_into_head(run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme")
    run("product", "add", "--sku", "S1", "--name", "Thing")
    run("batch", "new", "--sku", "S1", "--lot", "L1", "--count", "5", "--ticket", "L1.ticket")
    # head reads nothing and exits at once, long before codegen has loaded: its first write meets a closed pipe
    result = subprocess.run(["bash", "-c", f"'{BIN / 'codegen'}' batch list 2>err | (exec head -c 0); cat err"],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout == "" and result.stderr == ""


def test_ticket_into_a_missing_directory_is_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme")
    run("product", "add", "--sku", "S1", "--name", "Thing")
    result = run("batch", "new", "--sku", "S1", "--lot", "L1", "--count", "5", "--ticket", "nodir/sub/L1.ticket",
                 ok=False)
    missing = tmp_path / "nodir" / "sub"
    assert result.output == f"error: directory {missing} does not exist: create it first, or choose another --ticket\n"
    assert not (tmp_path / "nodir").exists()
    assert "\tL1\t" not in run("batch", "list").output  # and no batch was registered


def test_a_weak_ops_token_stops_both_programs_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "YIMA_VAR_DIR": str(tmp_path / "var"), "YIMA_OPS_TOKEN": "1"}
    for argv in (("yima", "seed"), ("codegen", "batch", "list")):
        result = _program(*argv, cwd=tmp_path, env=env)
        assert result.returncode == 1, argv
        [line] = result.stderr.splitlines()
        assert line.startswith("error: YIMA_OPS_TOKEN is too weak: it needs at least 32 random characters"), line


def test_a_refusal_is_status_1_and_an_unreachable_redis_status_75(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme")
    run("product", "add", "--sku", "S1", "--name", "Thing")
    run("batch", "new", "--sku", "S1", "--lot", "L1", "--count", "5", "--ticket", "L1.ticket")
    refused = _program("codegen", "activate", "--lot", "L1", "--range", "3-9", cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.startswith("error: range '3-9'") and len(refused.stderr.splitlines()) == 1
    with socket.socket() as probe:  # a port the OS just handed out and nothing listens on: Redis is down
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = _program("codegen", "activate", "--lot", "L1", cwd=tmp_path,
                    env={**os.environ, "REDIS_URL": f"redis://127.0.0.1:{closed}/0"})
    assert (down.returncode, down.stdout) == (75, "")
    assert down.stderr == "error: Redis unavailable (ConnectionError); run the command again once it is back\n"
