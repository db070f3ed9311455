"""README's factory walkthrough, its commands read from README.md, run as written after `make run` seeded the demo."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.codegen_cli import cli
from app.config import load_config
from app.runtime import connect_database, connect_redis
from app.seed import seed_demo, seed_demo_campaign
from tests.conftest import REDIS_TEST_URL
from tests.integration.test_codegen_cli import run  # noqa: F401  (the fixture)

README = Path(__file__).resolve().parents[2] / "README.md"

# Commands of the walkthrough this test does not run, and why.
SKIPPED = {
    "--qr": "QR images and label sheets for 100,000 items take tens of seconds (test_codegen_cli.py runs 1,000)",
    "…": "a placeholder the reader fills in",
    "camera.log": "needs the line camera's log (tests/integration/test_codegen_cli.py runs readback)",
}


def walkthrough_commands() -> list[list[str]]:
    """Every `codegen …` line of the ```sh blocks under "## Factory walkthrough", continuations joined."""
    text = README.read_text("utf-8")
    section = text.split("## Factory walkthrough", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("codegen ") and not any(mark in line for mark in SKIPPED):
                commands.append(shlex.split(line, comments=True)[1:])
    return commands


def test_the_walkthrough_is_found_in_readme() -> None:
    names = [" ".join(c[:2]) for c in walkthrough_commands()]
    for expected in ("keys init", "brand add", "product add", "batch new", "generate --ticket", "activate --lot",
                     "void --lot", "batch list"):
        assert any(name.startswith(expected) for name in names), (expected, names)


def test_readme_walkthrough_runs_as_written_after_make_run(
    tmp_path: Path, database_url: str, redis_client, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("YIMA_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    db = connect_database(cfg)  # what `make run` leaves behind: the demo brand, batch and campaign
    demo = seed_demo(cfg, db, connect_redis(cfg))
    seed_demo_campaign(db, connect_redis(cfg), demo.batch_id)
    db.engine.dispose()

    runner = CliRunner()
    outputs = {}
    for args in walkthrough_commands():
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        outputs[" ".join(args[:2])] = result.output

    new_batch = int(re.search(r"^batch (\d+): BEER-500 lot L2026-11-23", outputs["batch new"], re.M).group(1))
    assert new_batch != demo.batch_id
    assert f"batch {new_batch} active serials: 0-99999" in outputs["activate --lot"]
    assert f"batch {new_batch} void serials: 1200-1299" in outputs["void --lot"]
    listing = dict(line.split("\t", 1) for line in outputs["batch list"].splitlines())
    assert listing[str(demo.batch_id)].endswith("void=-")  # the demo batch was left alone
    assert (tmp_path / "out" / "L2026-11-23" / "manifest.json").exists()


def test_naming_a_batch_by_lot(run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme")
    for sku in ("S1", "S2"):
        run("product", "add", "--sku", sku, "--name", "Thing")
        run("batch", "new", "--sku", sku, "--lot", "L1", "--count", "5", "--ticket", f"{sku}.ticket")
    assert run("activate", ok=False).output == "error: name the batch with --batch ID or --lot LOT (one of them)\n"
    assert run("activate", "--batch", "1", "--lot", "L1", ok=False).output.startswith("error: name the batch")
    assert run("activate", "--lot", "L9", ok=False).output == "error: no batch has lot 'L9'\n"
    assert "several batches have lot 'L1'" in run("activate", "--lot", "L1", ok=False).output
    assert "batch 2 active serials: 0-4" in run("activate", "--lot", "L1", "--sku", "S2").output
    assert "batch 1 void serials: 1-2" in run("void", "--lot", "L1", "--sku", "S1", "--range", "1-2").output
