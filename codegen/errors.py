"""What the domain packages raise when they refuse something: a stable machine `code` and the `kind` of failure.

Each domain package has one base: `codegen.errors.CodegenError`, `rules.errors.RulesError`,
`accounts.errors.AccountsError`; all three derive from `DomainError`. A domain error says what went wrong
(`kind`: invalid input, not found, a conflict, ...), never how a caller should be answered: the web layer
(app/errors.py) maps a kind to an HTTP status and renders the JSON error shape or a page, the command line
(app/cli_errors.py) maps it to an exit status. `code` is the API's `error.code`: the OpenAPI document and
the clients depend on it, so a code, once used, stays.

The root and the kinds live here because every domain package already builds on codegen (its database
and catalogue models).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class Kind(StrEnum):
    INVALID = "invalid"  # bad input; the message says which field and why
    NOT_FOUND = "not_found"  # no such thing, or not one the caller may see (both read the same)
    FORBIDDEN = "forbidden"  # the caller may see it, but their role does not allow this
    CONFLICT = "conflict"  # valid, but not now: the current state forbids it
    INCONSISTENT = "inconsistent"  # contradicts an earlier request (an idempotency key sent with another body)
    THROTTLED = "throttled"  # too many attempts; `retry_after` seconds to wait
    UNAVAILABLE = "unavailable"  # cannot be decided right now (a dependency is missing or down); retry later


class DomainError(Exception):
    """Root of every domain error. Each concrete error sets `code` and `kind` as class attributes."""

    code: ClassVar[str]
    kind: ClassVar[Kind]
    retry_after: int | None = None  # seconds, for THROTTLED

    def public_message(self) -> str:
        """What the person or program that asked is told: the exception's message unless a subclass keeps
        details (a file path, an internal reason) to the logs."""
        return str(self)

    def details(self) -> dict[str, Any]:
        """Machine-readable facts beside the message (JSON-ready), e.g. every problem of an invalid campaign."""
        return {}


class CodegenError(DomainError):
    """Base of every codegen error: keys, tickets, the catalogue, batches, generated output."""
