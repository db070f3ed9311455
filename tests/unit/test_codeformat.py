"""Property tests of code format v1 (docs/code-format.md)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codegen import crockford
from codegen.codeformat import (
    CODE_LENGTH,
    MAX_BATCH_ID,
    MAX_KEY_ID,
    MAX_SERIAL,
    CodeError,
    CodeSigner,
    Role,
    encode,
    extract_code,
    parse,
    verify,
)
from codegen.keys import derive_batch_key

MASTER = bytes(range(32))

roles = st.sampled_from(list(Role))
key_ids = st.integers(0, MAX_KEY_ID)
batch_ids = st.integers(0, MAX_BATCH_ID)
serials = st.integers(0, MAX_SERIAL)


def _key(key_id: int, batch_id: int) -> bytes:
    return derive_batch_key(MASTER, key_id, batch_id)


def _code(role: Role, key_id: int, batch_id: int, serial: int) -> str:
    return encode(_key(key_id, batch_id), role=role, key_id=key_id, batch_id=batch_id, serial=serial)


def _verify(text: str):  # a headquarters lookup: any batch's key
    return verify(text, _key)


@given(roles, key_ids, batch_ids, serials)
def test_round_trip(role: Role, key_id: int, batch_id: int, serial: int) -> None:
    code = _code(role, key_id, batch_id, serial)
    assert len(code) == CODE_LENGTH
    assert code[0] == "1"  # version 1 shows in the first symbol
    fields = _verify(code)
    assert (fields.role, fields.key_id, fields.batch_id, fields.serial) == (role, key_id, batch_id, serial)


@given(roles, key_ids, batch_ids, serials, st.randoms(use_true_random=False))
def test_either_case_and_mixed_case_accepted(role, key_id, batch_id, serial, rnd) -> None:
    code = _code(role, key_id, batch_id, serial)
    mixed = "".join(c.lower() if rnd.random() < 0.5 else c for c in code)
    assert _verify(code.lower()) == _verify(code) == _verify(mixed)


@settings(max_examples=40)
@given(roles, key_ids, batch_ids, serials)
def test_every_single_symbol_substitution_is_rejected(role, key_id, batch_id, serial) -> None:
    code = _code(role, key_id, batch_id, serial)
    for i, original in enumerate(code):
        for symbol in crockford.ALPHABET:
            if symbol == original:
                continue
            with pytest.raises(CodeError):
                _verify(code[:i] + symbol + code[i + 1 :])


@given(roles, key_ids, batch_ids, serials)
def test_every_adjacent_transposition_is_rejected(role, key_id, batch_id, serial) -> None:
    code = _code(role, key_id, batch_id, serial)
    for i in range(len(code) - 1):
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        if swapped == code:
            continue  # two equal symbols: no change
        with pytest.raises(CodeError):
            _verify(swapped)


@given(roles, key_ids, batch_ids, serials, st.integers(1, CODE_LENGTH - 1), st.text(crockford.ALPHABET, min_size=1))
def test_truncation_and_extension_are_rejected(role, key_id, batch_id, serial, cut, extra) -> None:
    code = _code(role, key_id, batch_id, serial)
    for bad in (code[:cut], code[cut:], code + extra, extra + code):
        with pytest.raises(CodeError) as info:
            _verify(bad)
        assert info.value.reason == CodeError.MALFORMED


@given(roles, key_ids, batch_ids, batch_ids, serials)
def test_codes_of_batch_a_never_verify_under_batch_b_key(role, key_id, batch_a, batch_b, serial) -> None:
    assume(batch_a != batch_b)
    code = _code(role, key_id, batch_a, serial)
    key_b = _key(key_id, batch_b)
    with pytest.raises(CodeError) as info:
        verify(code, lambda _k, _b: key_b)  # a lookup that wrongly hands out B's key
    assert info.value.reason == CodeError.FORGED


@given(roles, key_ids, batch_ids, serials)
def test_a_ticket_lookup_knows_only_its_own_batch(role, key_id, batch_id, serial) -> None:
    code = _code(role, key_id, batch_id, serial)
    with pytest.raises(CodeError) as info:
        verify(code, lambda k, b: _key(k, b) if b == batch_id + 1 else None)
    assert info.value.reason == CodeError.UNKNOWN_KEY


@given(roles, key_ids, batch_ids, st.lists(serials, min_size=1, max_size=20))
def test_fast_signer_equals_reference_encoder(role, key_id, batch_id, serial_list) -> None:
    signer = CodeSigner(_key(key_id, batch_id), role=role, key_id=key_id, batch_id=batch_id)
    for serial in serial_list:
        assert signer.code(serial) == _code(role, key_id, batch_id, serial)


def test_crockford_aliases_read_as_their_digits() -> None:
    code = _code(Role.INNER, 1, 0, 0)  # batch 0 serial 0: the header holds many zeros
    assert "0" in code
    assert _verify(code.replace("0", "O")) == _verify(code)
    assert _verify(code.replace("1", "I")) == _verify(code) == _verify(code.replace("1", "l"))


@pytest.mark.parametrize("text", ["", "*" * CODE_LENGTH, "U" * CODE_LENGTH, "1" * 27 + "!", "１" * CODE_LENGTH])
def test_garbage_is_malformed(text: str) -> None:
    with pytest.raises(CodeError) as info:
        parse(text)
    assert info.value.reason == CodeError.MALFORMED


def test_unknown_version_is_rejected() -> None:
    code = _code(Role.INNER, 1, 5, 5)
    with pytest.raises(CodeError) as info:
        _verify("2" + code[1:])
    assert info.value.reason == CodeError.UNSUPPORTED


def test_field_limits_are_enforced() -> None:
    with pytest.raises(ValueError):
        _code(Role.INNER, MAX_KEY_ID + 1, 0, 0)
    with pytest.raises(ValueError):
        _code(Role.INNER, 0, MAX_BATCH_ID + 1, 0)
    with pytest.raises(ValueError):
        _code(Role.INNER, 0, 0, MAX_SERIAL + 1)


def test_extract_code_from_urls_in_any_case() -> None:
    code = _code(Role.OUTER, 1, 9, 99)
    assert extract_code(f"https://q.acme.example/q/{code}") == code
    assert extract_code(f"HTTPS://Q.ACME.EXAMPLE/Q/{code}") == code
    assert extract_code(f"  https://q.acme.example/q/{code.lower()}/?utm=x#frag \n") == code.lower()
    assert extract_code(code) == code
    with pytest.raises(CodeError):
        extract_code(f"https://evil.example/x/{code}")
    with pytest.raises(CodeError):
        extract_code("A" * 10_000)
