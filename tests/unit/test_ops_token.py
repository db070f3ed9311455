"""A weak YIMA_OPS_TOKEN stops yima at startup with a message that says how to make a good one."""

from __future__ import annotations

import base64
import os
import secrets

import pytest

from app.config import MAKE_A_TOKEN, ConfigError, load_config


@pytest.mark.parametrize(
    "token",
    [
        "1",
        "password",
        "a" * 64,
        "12345678901234567890123456789012",  # 32 digits: about 106 bits at best
        "changeme-changeme-changeme-changeme",  # a word repeated
        "abcdefgh" * 5,  # a short run repeated
        "0123456789abcdef",  # 16 hex characters: 64 bits
        secrets.token_hex(15),  # 30 characters
    ],
)
def test_a_weak_ops_token_is_refused_with_how_to_make_one(token: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"YIMA_OPS_TOKEN": token})
    message = str(err.value)
    assert message.startswith("YIMA_OPS_TOKEN is too weak") and MAKE_A_TOKEN in message
    assert "\n" not in message
    if len(token) > 4:
        assert token not in message  # a secret is never echoed to logs


def test_random_tokens_as_people_make_them_are_accepted() -> None:
    for _ in range(200):
        for token in (
            secrets.token_urlsafe(32),  # what the message suggests
            secrets.token_hex(16),  # openssl rand -hex 16: 32 hex characters, 128 bits
            secrets.token_hex(32),  # openssl rand -hex 32
            base64.b64encode(os.urandom(32)).decode(),  # openssl rand -base64 32
        ):
            assert load_config({"YIMA_OPS_TOKEN": token}).ops_token == token


def test_unset_means_generated_into_var() -> None:
    assert load_config({}).ops_token is None
