"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from accounts.errors import InvalidAccount

_HASHER = PasswordHasher()
MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 takes any length; this only bounds the work one request can ask for

# Verified when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY = _HASHER.hash("not a password, only a timing twin")


def check_strength(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidAccount(f"password: must be {MIN_LENGTH}-{MAX_LENGTH} characters")
    if len(set(password)) < 5:
        raise InvalidAccount("password: too simple (use at least 5 different characters)")


def hash_password(password: str) -> str:
    check_strength(password)
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
