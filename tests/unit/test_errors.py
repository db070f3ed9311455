"""The domain errors form one hierarchy: a base per package, and every error a code and a kind that the web
layer (app/errors.py) and the command line (app/cli_errors.py) each map in one place."""

from __future__ import annotations

import errno
import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import pytest

from accounts.errors import AccountsError
from app.api import BadRequest
from app.audit_filters import FilterProblem
from app.cli_errors import EXIT_STATUS, refusal
from app.config import ConfigError
from app.errors import STATUS, RequestError
from channel.errors import ChannelError
from codegen.errors import CodegenError, DomainError, Kind
from codegen.ranges import RangeError
from payouts.errors import PayoutError
from risk.errors import RiskError
from rules.campaign import InvalidCampaign
from rules.campaign_store import CampaignConflict, CampaignNotFound, EditConflict
from rules.enumeration import SourceBlocked
from rules.errors import RulesError
from rules.idempotency import IdempotencyKeyPending, IdempotencyKeyReused
from rules.members import InvalidMemberToken
from rules.publish import PublishConflict, UnknownVersion
from rules.receipts import InvalidReceipt
from rules.scan import NotGenuine, ScanUnavailable

DOMAIN_PACKAGES = ("codegen", "rules", "accounts", "reports", "payouts", "channel", "risk")
BASES: dict[str, type[DomainError]] = {
    "codegen": CodegenError, "rules": RulesError, "accounts": AccountsError, "payouts": PayoutError,
    "channel": ChannelError, "risk": RiskError,
    "app": RequestError}


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    names = [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")
             if ".migrations" not in m.name]  # alembic's env.py runs a migration when imported
    return [root, *(importlib.import_module(name) for name in names)]


def _every_error() -> list[type[DomainError]]:
    for package in DOMAIN_PACKAGES:
        _modules(package)  # defines every subclass
    found: list[type[DomainError]] = []
    todo = [DomainError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def _concrete() -> list[type[DomainError]]:
    return [cls for cls in _every_error() if cls not in BASES.values()]


def test_the_walk_finds_the_errors_of_every_package() -> None:
    packages = {cls.__module__.split(".")[0] for cls in _concrete()}
    assert {"codegen", "rules", "accounts", "app"} <= packages
    assert len(_concrete()) >= 25


@pytest.mark.parametrize("cls", _concrete(), ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_error_has_a_code_and_a_kind_both_layers_map(cls: type[DomainError]) -> None:
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code), cls.code
    assert isinstance(cls.kind, Kind)
    assert 400 <= STATUS[cls.kind] <= 599
    assert EXIT_STATUS[cls.kind] in (1, 75)


def test_one_base_per_package() -> None:
    every = _every_error()
    assert {cls for cls in every if DomainError in cls.__bases__} == set(BASES.values())
    for package, base in BASES.items():
        assert base.__module__ == f"{package}.errors"
        assert not hasattr(base, "code") and not hasattr(base, "kind")  # only concrete errors say what failed
    for cls in every:
        assert issubclass(cls, BASES[cls.__module__.split(".")[0]]), cls


def test_every_exception_a_domain_package_defines_is_in_the_hierarchy() -> None:
    strays = [f"{module.__name__}.{name}"
              for package in DOMAIN_PACKAGES for module in _modules(package)
              for name, obj in vars(module).items()
              if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
              and not issubclass(obj, DomainError)]
    assert strays == []


def test_every_kind_has_a_status_and_an_exit_status() -> None:
    assert set(STATUS) == set(Kind) == set(EXIT_STATUS)


# What the API answers for each error it lets through, as the OpenAPI document and the tests pin it.
API_ANSWERS: dict[type[DomainError], tuple[int, str]] = {
    BadRequest: (400, "invalid_request"),
    FilterProblem: (400, "invalid_filter"),
    InvalidCampaign: (400, "invalid_campaign"),
    InvalidMemberToken: (400, "invalid_member_token"),
    InvalidReceipt: (400, "invalid_receipt"),
    NotGenuine: (404, "not_genuine"),
    CampaignNotFound: (404, "not_found"),
    UnknownVersion: (404, "not_found"),
    CampaignConflict: (409, "conflict"),
    PublishConflict: (409, "conflict"),
    IdempotencyKeyPending: (409, "conflict"),
    EditConflict: (409, "edit_conflict"),
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    SourceBlocked: (429, "too_many_invalid_codes"),
    ScanUnavailable: (503, "unavailable"),
}


@pytest.mark.parametrize(("cls", "answer"), API_ANSWERS.items(), ids=lambda v: getattr(v, "__name__", ""))
def test_the_api_answers_stay_as_documented(cls: type[DomainError], answer: tuple[int, str]) -> None:
    assert (STATUS[cls.kind], cls.code) == answer


def test_what_users_are_told() -> None:
    assert NotGenuine("forged", "tag mismatch for batch 7").public_message() == "not a genuine code (forged)"
    hidden = ScanUnavailable("key file /srv/yima/keys.json is missing")
    assert "/srv" not in hidden.public_message()
    assert InvalidReceipt("not an award receipt").public_message() == "not an award receipt"
    assert SourceBlocked(12).retry_after == 12 and InvalidReceipt("x").retry_after is None


def test_the_command_line_answers() -> None:
    assert refusal(RangeError("range '3-9' must lie within 0-4")) == ("range '3-9' must lie within 0-4", 1)
    assert refusal(ScanUnavailable("no key file")) == ("verification is temporarily unavailable; retry shortly", 75)
    assert refusal(SourceBlocked(5)) == ("too many invalid codes from this source; retry in 5 s", 75)
    assert refusal(ConfigError("PORT='x' is not a whole number")) == ("PORT='x' is not a whole number", 1)
    assert refusal(OSError(errno.ENOSPC, "No space left on device")) == (
        "disk full: no space left on device (nothing was kept)", 1)
    assert refusal(FileNotFoundError(errno.ENOENT, "No such file or directory", "t.ticket")) == (
        "No such file or directory: t.ticket", 1)
    assert refusal(BrokenPipeError()) is None  # ends quietly, in run_cli
    assert refusal(KeyError("a bug")) is None  # keeps its traceback
