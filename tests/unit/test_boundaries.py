"""The domain packages stay pure: no web framework, no app layer, no environment reads.

`schema` (the migrations of every domain's tables) sits above them: it may import their models and the
shared SQL plumbing, nothing else of theirs, and none of them imports it back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_FILES = sorted(
    p for pkg in ("codegen", "rules", "accounts", "reports", "payouts", "channel", "risk")
    if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts
)
DOMAINS = ("codegen", "rules", "accounts", "reports", "payouts", "channel", "risk")
FORBIDDEN = ("flask", "werkzeug", "app")
SCHEMA_FILES = sorted((ROOT / "schema").rglob("*.py"))
SCHEMA_MAY_IMPORT = {"codegen.db"} | {f"{pkg}.models" for pkg in DOMAINS}


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
    assert len(SCHEMA_FILES) > 10  # the package, env.py and the migrations


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_does_not_import_the_web_or_app_layer(path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_does_not_read_the_environment(path: Path) -> None:
    text = path.read_text("utf-8")
    assert "os.environ" not in text and "getenv" not in text


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_does_not_import_the_schema_package(path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] == "schema"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: the migrations depend on the domains, not back"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_schema_module_imports_only_models_and_no_web(path: Path) -> None:
    names = _imports(path)
    web = {n for n in names if n.split(".")[0] in FORBIDDEN}
    domain = {n for n in names if n.split(".")[0] in DOMAINS and n not in SCHEMA_MAY_IMPORT}
    assert not web and not domain, f"{path.relative_to(ROOT)} imports {sorted(web | domain)}"
    assert "os.environ" not in path.read_text("utf-8")
