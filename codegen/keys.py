"""Headquarters master keys, per-batch keys (HKDF) and the ticket-signing keys derived from them.

The master key file lives only at headquarters. Nothing here logs or prints a key; `fingerprint` is the
only thing about a key that may be shown.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from codegen.codeformat import MAX_KEY_ID
from codegen.errors import CodegenError, Kind
from codegen.fileio import atomic_write

KEYS_FORMAT = "yima-master-keys/1"
PUBLIC_FORMAT = "yima-hq-public/1"
MASTER_KEY_BYTES = 32


class KeyFileError(CodegenError):
    """The key file is missing, unreadable or not a yima key file."""

    code = "key_file_unusable"
    kind = Kind.INVALID


@dataclass
class Keyring:
    current: int
    keys: dict[int, bytes] = field(repr=False)

    def master(self, key_id: int) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyFileError(f"key id {key_id} is not in the key file") from None

    def batch_key(self, key_id: int, batch_id: int) -> bytes:
        return derive_batch_key(self.master(key_id), key_id, batch_id)

    def batch_key_or_none(self, key_id: int, batch_id: int) -> bytes | None:
        """A `codeformat.verify` key lookup: None for a key id this key file does not hold."""
        master = self.keys.get(key_id)
        return derive_batch_key(master, key_id, batch_id) if master is not None else None

    def signing_key(self, key_id: int) -> Ed25519PrivateKey:
        return derive_signing_key(self.master(key_id), key_id)

    def public_keys(self) -> dict[int, bytes]:
        return {
            kid: self.signing_key(kid).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            for kid in sorted(self.keys)
        }


def derive_batch_key(master: bytes, key_id: int, batch_id: int) -> bytes:
    """The batch's own 32-byte key: HKDF-SHA256(master, info = "yima/batch/v1" | key_id | batch_id)."""
    info = b"yima/batch/v1" + key_id.to_bytes(1, "big") + batch_id.to_bytes(4, "big")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def derive_signing_key(master: bytes, key_id: int) -> Ed25519PrivateKey:
    """Headquarters' Ed25519 ticket-signing key for a key id, derived so the key file stays one secret."""
    info = b"yima/ticket-signing/v1" + key_id.to_bytes(1, "big")
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)
    return Ed25519PrivateKey.from_private_bytes(seed)


def fingerprint(key: bytes) -> str:
    """A short public identifier of a key: safe to show, useless to an attacker."""
    return hashlib.sha256(b"yima/fingerprint" + key).hexdigest()[:16]


def load_keyring(path: Path) -> Keyring:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}: run `codegen keys init` at headquarters") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.__class__.__name__}") from None
    try:
        if doc["format"] != KEYS_FORMAT:
            raise ValueError("format")
        keys = {int(k): base64.b64decode(v, validate=True) for k, v in doc["keys"].items()}
        current = int(doc["current"])
        if current not in keys or any(len(v) != MASTER_KEY_BYTES for v in keys.values()):
            raise ValueError("keys")
    except (KeyError, TypeError, ValueError, AttributeError):
        raise KeyFileError(f"{path} is not a valid yima key file") from None
    return Keyring(current=current, keys=keys)


def _save(path: Path, ring: Keyring) -> None:
    doc = {
        "format": KEYS_FORMAT,
        "current": ring.current,
        "keys": {str(k): base64.b64encode(v).decode() for k, v in sorted(ring.keys.items())},
    }
    atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)


def save_public_keys(path: Path, ring: Keyring) -> None:
    """Write the public half (ticket-signature verification keys): give this file to every factory."""
    doc = {
        "format": PUBLIC_FORMAT,
        "keys": {str(k): base64.b64encode(v).decode() for k, v in ring.public_keys().items()},
    }
    atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o644)


def load_public_keys(path: Path) -> dict[int, Ed25519PublicKey]:
    try:
        doc = json.loads(path.read_text("utf-8"))
        if doc["format"] != PUBLIC_FORMAT:
            raise ValueError("format")
        return {
            int(k): Ed25519PublicKey.from_public_bytes(base64.b64decode(v, validate=True))
            for k, v in doc["keys"].items()
        }
    except FileNotFoundError:
        raise KeyFileError(
            f"no headquarters public key file at {path}: copy hq-public.json from headquarters"
        ) from None
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        raise KeyFileError(f"{path} is not a valid yima public key file") from None


def init_keyring(path: Path) -> tuple[Keyring, bool]:
    """Create the key file with key id 1 if it does not exist. Returns (keyring, created)."""
    if path.exists():
        return load_keyring(path), False
    ring = Keyring(current=1, keys={1: secrets.token_bytes(MASTER_KEY_BYTES)})
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(path, ring)
    return ring, True


def rotate_keyring(path: Path) -> Keyring:
    """Add a new key id and make it current; older key ids stay so their codes keep verifying."""
    ring = load_keyring(path)
    new_id = max(ring.keys) + 1
    if new_id > MAX_KEY_ID:
        raise KeyFileError(f"all {MAX_KEY_ID} key ids are used; the code format has no room for more")
    ring.keys[new_id] = secrets.token_bytes(MASTER_KEY_BYTES)
    ring.current = new_id
    _save(path, ring)
    return ring


def file_mode_is_private(path: Path) -> bool:
    return (os.stat(path).st_mode & 0o077) == 0
