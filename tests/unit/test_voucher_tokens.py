"""The voucher token the consumer's QR carries (channel/vouchers.py): only the app's key makes one, a
guessed or altered one names nothing, and what a clerk's scanner types is read back to the token."""

from __future__ import annotations

import re

import pytest
import qrcode

from app.voucher_panel import qr_svg
from channel.errors import ChannelNotFound
from channel.vouchers import MAC_CHARS, award_of_token, token_from_text, voucher_key, voucher_token
from codegen.qr import ALPHANUMERIC_CHARS

KEY = voucher_key(b"s" * 32)
AWARD = "12-1773108000000-3"


def test_a_token_names_its_award_under_its_key_only() -> None:
    token = voucher_token(KEY, AWARD)
    assert token.startswith(AWARD + ".") and len(token) == len(AWARD) + 1 + MAC_CHARS
    assert set(token) <= ALPHANUMERIC_CHARS  # all QR alphanumeric characters: a dense symbol
    assert award_of_token(KEY, token) == AWARD
    assert award_of_token(KEY, token.lower()) == AWARD  # a scanner that lower-cases still reads it
    assert voucher_key(b"t" * 32) != KEY
    with pytest.raises(ChannelNotFound):
        award_of_token(voucher_key(b"t" * 32), token)


@pytest.mark.parametrize("bad", ["", AWARD, f"{AWARD}.", "13-1773108000000-3.AAAAAAAAAAAAAAAA", "x" * 500,
                                 "12-1773108000000-3.AAAAAAAAAAAAAAAA.AAAA", "../admin", "12.ABC"])
def test_anything_else_reads_as_no_voucher(bad: str) -> None:
    with pytest.raises(ChannelNotFound):
        award_of_token(KEY, bad)


def test_an_altered_award_id_or_mac_is_refused() -> None:
    token = voucher_token(KEY, AWARD)
    other = voucher_token(KEY, "12-1773108000000-4")
    assert other.rsplit(".", 1)[1] != token.rsplit(".", 1)[1]
    with pytest.raises(ChannelNotFound):
        award_of_token(KEY, "12-1773108000000-4." + token.rsplit(".", 1)[1])


def test_only_award_ids_get_a_token() -> None:
    for bad in ("", "12", "12-abc-1", "1-2-3-4"):
        with pytest.raises(ValueError):
            voucher_token(KEY, bad)


@pytest.mark.parametrize("typed", ["{t}", " {t}\n", "https://q.demo.example/dist/redeem/v/{t}",
                                   "https://q.demo.example/dist/redeem/v/{t}/", "/dist/redeem/v/{t}?from=wx",
                                   "HTTPS://Q.DEMO.EXAMPLE/DIST/REDEEM/V/{t}#x"])
def test_what_a_scanner_types_is_read_back_to_the_token(typed: str) -> None:
    token = voucher_token(KEY, AWARD)
    assert award_of_token(KEY, token_from_text(typed.format(t=token))) == AWARD


def test_the_qr_is_an_svg_of_the_url_with_nothing_the_csp_refuses() -> None:
    svg = str(qr_svg("https://q.demo.example/dist/redeem/v/" + voucher_token(KEY, AWARD)))
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "style=" not in svg and "<script" not in svg and "href" not in svg
    side = int(svg.split('viewBox="0 0 ', 1)[1].split(" ", 1)[0])
    assert side == 33 + 8  # version 4 (33 modules) plus the quiet zone of 4 on each side


def test_the_qr_draws_the_symbol_qrcode_makes_for_the_url() -> None:
    url = "https://q.demo.example/dist/redeem/v/" + voucher_token(KEY, AWARD)
    svg = str(qr_svg(url))
    drawn = [[False] * 41 for _ in range(41)]
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg.split(' d="', 1)[1]):
        for i in range(int(run)):
            drawn[int(y)][int(x) + i] = True
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    assert drawn == qr.get_matrix()
