"""The risk package's errors: one base, mapped by the web layer and the command line in one place each."""

from __future__ import annotations

from typing import Any

from codegen.errors import DomainError, Kind


class RiskError(DomainError):
    """Base of every risk error."""


class InvalidRisk(RiskError):
    """Bad input: a policy value out of range, an unknown list kind, a malformed address or range (the
    message says which; `field` names the input)."""

    code = "invalid_risk"
    kind = Kind.INVALID

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"field": self.field} if self.field else {}


class RiskNotFound(RiskError):
    """No such flag, list entry or held award, or not one of the caller's brand (both read the same)."""

    code = "not_found"
    kind = Kind.NOT_FOUND


class RiskConflict(RiskError):
    """The action does not fit the object's state (releasing an award that is not held, twice)."""

    code = "conflict"
    kind = Kind.CONFLICT
