"""The accounts package's errors: one base, so the web layer and the command line map them in one place each."""

from __future__ import annotations

from codegen.errors import DomainError, Kind


class AccountsError(DomainError):
    """Base of every accounts error."""


class InvalidAccount(AccountsError):
    """Bad input for a user, a role or a token (the message says which field and why)."""

    code = "invalid_account"
    kind = Kind.INVALID


class AccountNotFound(AccountsError):
    """No such user, brand or token, or not one the caller may see: both read the same (no existence leak)."""

    code = "not_found"
    kind = Kind.NOT_FOUND


class AccountConflict(AccountsError):
    """Valid but not now: an e-mail already taken, the last admin of a brand removed, a token already revoked."""

    code = "conflict"
    kind = Kind.CONFLICT


class AccountForbidden(AccountsError):
    """The caller sees the brand but their role there does not allow this."""

    code = "forbidden"
    kind = Kind.FORBIDDEN
