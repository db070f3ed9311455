"""What every view of the fake needs: its state and keys (held in app.extensions)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app, request

from app.fake_wechat.keys import DemoKeys
from app.fake_wechat.state import FakeState


@dataclass
class Fake:
    state: FakeState
    keys: DemoKeys
    merchant_public: rsa.RSAPublicKey
    platform_key: rsa.RSAPrivateKey


def fake() -> Fake:
    found: Fake = current_app.extensions["fake_wechat"]
    return found


def drop_connection() -> None:
    """Lose the reply: the request was processed, the client sees the connection closed with no answer."""
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)
