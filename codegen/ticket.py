"""The batch ticket: what a factory line receives to generate one batch's codes offline.

It holds the batch metadata and the batch key, never the master key, signed by headquarters with
Ed25519 (the signing key is derived from the master key; factories hold the public key file). A leaked
ticket forges nothing outside its own batch because the batch key is HKDF-derived per batch.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from codegen.codeformat import MAX_BATCH_ID, MAX_KEY_ID, MAX_SERIAL
from codegen.errors import CodegenError, Kind
from codegen.fileio import atomic_write

TICKET_FORMAT = "yima-batch-ticket/1"
# A ticket is a few hundred bytes; refuse to parse anything much larger.
MAX_TICKET_BYTES = 64 * 1024


class TicketError(CodegenError):
    """A ticket that is missing, corrupt, tampered with, or not signed by a known headquarters key."""

    code = "invalid_ticket"
    kind = Kind.INVALID


@dataclass(frozen=True)
class BatchTicket:
    batch_id: int
    key_id: int
    brand: str
    sku: str
    product_name: str
    gtin: str | None
    lot: str
    factory: str
    line: str
    production_date: str | None
    count: int
    pack: int  # items per case; 0 = no case codes
    base_url: str
    batch_key: bytes = field(repr=False)

    @property
    def cases(self) -> int:
        return -(-self.count // self.pack) if self.pack else 0

    def metadata(self) -> dict[str, object]:
        """Everything but the key: safe to print and to copy into a manifest."""
        meta = asdict(self)
        del meta["batch_key"]
        return meta

    def key_for(self, key_id: int, batch_id: int) -> bytes | None:
        """A `codeformat.verify` key lookup that knows only this batch."""
        if key_id == self.key_id and batch_id == self.batch_id:
            return self.batch_key
        return None


def _payload(ticket: BatchTicket) -> dict[str, object]:
    body = ticket.metadata()
    body["batch_key"] = base64.b64encode(ticket.batch_key).decode()
    return body


def _canonical(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check(ticket: BatchTicket) -> None:
    if not 0 < ticket.batch_id <= MAX_BATCH_ID or not 0 <= ticket.key_id <= MAX_KEY_ID:
        raise TicketError("ticket batch or key id out of range")
    if not 0 < ticket.count <= MAX_SERIAL + 1 or ticket.pack < 0 or len(ticket.batch_key) != 32:
        raise TicketError("ticket count, pack or key is invalid")


def dump_ticket(ticket: BatchTicket, signing_key: Ed25519PrivateKey) -> bytes:
    _check(ticket)
    payload = _payload(ticket)
    signature = signing_key.sign(TICKET_FORMAT.encode() + b"\n" + _canonical(payload))
    doc = {"format": TICKET_FORMAT, "ticket": payload, "signature": base64.b64encode(signature).decode()}
    return (json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def write_ticket(path: Path, ticket: BatchTicket, signing_key: Ed25519PrivateKey) -> None:
    atomic_write(path, dump_ticket(ticket, signing_key), mode=0o600)


def load_ticket(data: bytes, public_keys: dict[int, Ed25519PublicKey]) -> BatchTicket:
    """Parse and authenticate a ticket; raise TicketError saying what is wrong."""
    if len(data) > MAX_TICKET_BYTES:
        raise TicketError("not a batch ticket (file too large)")
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != TICKET_FORMAT:
            raise TicketError("not a yima batch ticket (unknown format)")
        payload = doc["ticket"]
        signature = base64.b64decode(doc["signature"], validate=True)
        fields = {k: v for k, v in payload.items() if k != "batch_key"}
        ticket = BatchTicket(batch_key=base64.b64decode(payload["batch_key"], validate=True), **fields)
    except TicketError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise TicketError("ticket is corrupt (cannot be parsed)") from None
    public = public_keys.get(ticket.key_id) if isinstance(ticket.key_id, int) else None
    if public is None:
        raise TicketError(f"ticket is signed with key id {ticket.key_id!r}, unknown to the public key file")
    try:
        public.verify(signature, TICKET_FORMAT.encode() + b"\n" + _canonical(payload))
    except InvalidSignature:
        raise TicketError("ticket signature is invalid: the file was altered or not issued by headquarters") from None
    _check(ticket)
    return ticket


def read_ticket(path: Path, public_keys: dict[int, Ed25519PublicKey]) -> BatchTicket:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_TICKET_BYTES + 1)
    except OSError as exc:
        raise TicketError(f"cannot read ticket {path}: {exc.strerror}") from None
    return load_ticket(data, public_keys)
