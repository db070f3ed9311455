from hypothesis import given
from hypothesis import strategies as st

from codegen import crockford


@given(st.integers(min_value=0, max_value=(1 << 140) - 1))
def test_int_round_trip(value: int) -> None:
    text = crockford.encode_int(value, 28)
    assert len(text) == 28
    assert crockford.decode_int(text) == value


def test_aliases_and_case_fold_to_canonical() -> None:
    assert crockford.normalise("abcio-") is None  # '-' is not a symbol
    assert crockford.normalise("abciol") == "ABC101"
    assert crockford.normalise("U") is None


def test_encode_rejects_values_that_do_not_fit() -> None:
    try:
        crockford.encode_int(1 << 10, 2)
    except ValueError as exc:
        assert "does not fit" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_alphabet_is_qr_alphanumeric() -> None:
    qr_alnum = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert set(crockford.ALPHABET) <= qr_alnum
    assert len(set(crockford.ALPHABET)) == 32


@given(st.integers(min_value=0, max_value=(1 << 70) - 1))
def test_decode_int_agrees_with_the_rfc_4648_decoder(value: int) -> None:
    import base64

    text = crockford.encode_int(value, 14)
    std = text.translate(str.maketrans(crockford.ALPHABET, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
    assert crockford.decode_int(text) == int.from_bytes(base64.b32decode("AA" + std), "big")


def test_decode_int_refuses_what_is_not_a_canonical_symbol() -> None:
    import pytest

    for bad in ("U", "I", "L", "O", "a", "-1", "1_0", " 1", "+1"):
        with pytest.raises(ValueError, match="not canonical"):
            crockford.decode_int(bad)
