from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from codegen import keys
from codegen.codeformat import Role, encode, verify
from codegen.ticket import BatchTicket, TicketError, load_ticket, read_ticket, write_ticket


def _ticket(ring: keys.Keyring, batch_id: int = 7, **over: object) -> BatchTicket:
    fields: dict[str, object] = dict(
        batch_id=batch_id, key_id=ring.current, brand="acme", sku="BEER-500", product_name="Lager 500ml",
        gtin="06901234567892", lot="L1", factory="F1", line="2", production_date="2026-11-20",
        count=1000, pack=24, base_url="https://q.acme.example",
        batch_key=ring.batch_key(ring.current, batch_id),
    )
    fields.update(over)
    return BatchTicket(**fields)  # type: ignore[arg-type]


@pytest.fixture
def ring(tmp_path: Path) -> keys.Keyring:
    ring, created = keys.init_keyring(tmp_path / "keys.json")
    assert created
    return ring


def test_key_file_is_private_and_init_is_idempotent(tmp_path: Path, ring: keys.Keyring) -> None:
    path = tmp_path / "keys.json"
    assert keys.file_mode_is_private(path)
    again, created = keys.init_keyring(path)
    assert not created and again.keys == ring.keys


def test_rotation_keeps_old_key_ids_verifying(tmp_path: Path, ring: keys.Keyring) -> None:
    old_code = encode(ring.batch_key(1, 5), role=Role.INNER, key_id=1, batch_id=5, serial=3)
    rotated = keys.rotate_keyring(tmp_path / "keys.json")
    assert rotated.current == 2 and set(rotated.keys) == {1, 2}
    reloaded = keys.load_keyring(tmp_path / "keys.json")
    assert verify(old_code, reloaded.batch_key).serial == 3
    assert reloaded.batch_key(2, 5) != reloaded.batch_key(1, 5)


def test_batch_keys_differ_per_batch_and_never_equal_the_master(ring: keys.Keyring) -> None:
    k1, k2 = ring.batch_key(1, 1), ring.batch_key(1, 2)
    assert k1 != k2 and ring.master(1) not in (k1, k2) and len(k1) == 32


@pytest.mark.parametrize("content", [b"", b"{}", b"not json", b'{"format": "yima-master-keys/1", "current": 1}'])
def test_broken_key_file_gives_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(content)
    with pytest.raises(keys.KeyFileError):
        keys.load_keyring(path)


def test_missing_key_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyFileError, match="codegen keys init"):
        keys.load_keyring(tmp_path / "nope.json")


def test_repr_never_shows_key_material(ring: keys.Keyring) -> None:
    ticket = _ticket(ring)
    assert base64.b64encode(ring.master(1)).decode() not in repr(ring)
    assert "batch_key" not in repr(ticket) and "batch_key" not in ticket.metadata()


def test_ticket_round_trip_and_holds_no_master_key(tmp_path: Path, ring: keys.Keyring) -> None:
    ticket = _ticket(ring)
    path = tmp_path / "L1.ticket"
    write_ticket(path, ticket, ring.signing_key(ring.current))
    keys.save_public_keys(tmp_path / "hq.json", ring)
    loaded = read_ticket(path, keys.load_public_keys(tmp_path / "hq.json"))
    assert loaded == ticket
    raw = path.read_bytes()
    assert base64.b64encode(ring.master(1)) not in raw
    assert keys.file_mode_is_private(path)


def _tamper(raw: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    doc = json.loads(raw)
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["ticket"].update(count=2000),
        lambda d: d["ticket"].update(batch_id=8),
        lambda d: d["ticket"].update(lot="L2"),
        lambda d: d["ticket"].update(batch_key=base64.b64encode(bytes(32)).decode()),
        lambda d: d.update(signature=base64.b64encode(bytes(64)).decode()),
    ],
)
def test_tampered_ticket_is_rejected(ring: keys.Keyring, edit) -> None:  # type: ignore[no-untyped-def]
    from codegen.ticket import dump_ticket

    raw = dump_ticket(_ticket(ring), ring.signing_key(1))
    public = {1: ring.signing_key(1).public_key()}
    assert load_ticket(raw, public).count == 1000
    with pytest.raises(TicketError, match="signature is invalid"):
        load_ticket(_tamper(raw, edit), public)


@pytest.mark.parametrize("raw", [b"", b"garbage", b'{"format": "yima-batch-ticket/1"}', b"[1]", b"x" * 70_000])
def test_corrupt_ticket_is_rejected(ring: keys.Keyring, raw: bytes) -> None:
    with pytest.raises(TicketError):
        load_ticket(raw, {1: ring.signing_key(1).public_key()})


def test_ticket_signed_by_another_headquarters_is_rejected(tmp_path: Path, ring: keys.Keyring) -> None:
    other, _ = keys.init_keyring(tmp_path / "other.json")
    from codegen.ticket import dump_ticket

    raw = dump_ticket(_ticket(other), other.signing_key(1))
    with pytest.raises(TicketError, match="signature is invalid"):
        load_ticket(raw, {1: ring.signing_key(1).public_key()})


def test_ticket_key_lookup_knows_only_its_batch(ring: keys.Keyring) -> None:
    ticket = _ticket(ring)
    assert ticket.key_for(ring.current, 7) == ticket.batch_key
    assert ticket.key_for(ring.current, 8) is None
    assert ticket.cases == 42
