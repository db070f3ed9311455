"""The accounts package's errors: one base, so the web layer maps them in one place."""

from __future__ import annotations


class AccountsError(Exception):
    """Base of every accounts error."""


class InvalidAccount(AccountsError):
    """Bad input for a user, a role or a token (the message says which field and why)."""


class AccountNotFound(AccountsError):
    """No such user, brand or token, or not one the caller may see: both read the same (no existence leak)."""


class AccountConflict(AccountsError):
    """Valid but not now: an e-mail already taken, the last admin of a brand removed, a token already revoked."""
