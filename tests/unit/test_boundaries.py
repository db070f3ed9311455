"""The domain packages stay pure: no web framework, no app layer, no environment reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_FILES = sorted(
    p for pkg in ("codegen", "rules", "accounts", "reports", "payouts", "channel", "risk")
    if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts
)
FORBIDDEN = ("flask", "werkzeug", "app")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_there_are_domain_files() -> None:
    assert len(DOMAIN_FILES) > 10


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_does_not_import_the_web_or_app_layer(path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_does_not_read_the_environment(path: Path) -> None:
    text = path.read_text("utf-8")
    assert "os.environ" not in text and "getenv" not in text
