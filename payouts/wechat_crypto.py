"""WeChat Pay API v3 signatures and callback encryption, and the JS-SDK signature (pure functions).

Requests: the merchant signs "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n" with its API private key
(RSA PKCS#1 v1.5, SHA-256) and sends it in `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,
signature=…,timestamp=…,serial_no=…`. Replies and callbacks: WeChat signs "TIMESTAMP\\nNONCE\\nBODY\\n" with
its platform key; the `Wechatpay-Timestamp/Nonce/Signature/Serial` headers carry it. Callback resources are
AEAD_AES_256_GCM under the merchant's APIv3 key. The fake server (app/fake_wechat) uses the same functions
from the other side, so the adapters' real code runs in tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_S = 300  # a reply or callback whose timestamp is further off than this is refused (replays)
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path} does not hold an RSA public key")
    return key


def new_key_pem() -> tuple[bytes, bytes]:
    """A fresh RSA-2048 key pair as (private PEM, public PEM): for the fake and the demo only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(),
                   hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def request_message(method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n"


def response_message(timestamp: str, nonce: str, body: str) -> str:
    return f"{timestamp}\n{nonce}\n{body}\n"


def authorization(key: rsa.RSAPrivateKey, mchid: str, serial: str, method: str, path: str, body: str,
                  timestamp: int | None = None, nonce: str | None = None) -> str:
    """The Authorization header of one merchant request (`path` includes the query string)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    signature = sign(key, request_message(method, path, ts, nonce, body))
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{ts}",serial_no="{serial}"')


@dataclass(frozen=True)
class AuthorizationFields:
    mchid: str
    nonce: str
    signature: str
    timestamp: str
    serial: str


def parse_authorization(header: str) -> AuthorizationFields | None:
    """The fields of a merchant's Authorization header, or None when it is not one."""
    if not header.startswith(SCHEMA + " "):
        return None
    fields = dict(_AUTH_FIELD.findall(header[len(SCHEMA) + 1:]))
    try:
        return AuthorizationFields(fields["mchid"], fields["nonce_str"], fields["signature"], fields["timestamp"],
                                   fields["serial_no"])
    except KeyError:
        return None


def fresh(timestamp: str, now: float | None = None) -> bool:
    """True when a signed timestamp is within MAX_SKEW_S of now."""
    try:
        return abs((time.time() if now is None else now) - int(timestamp)) <= MAX_SKEW_S
    except ValueError:
        return False


def encrypt_resource(apiv3_key: str, plaintext: bytes, associated_data: str, nonce: str | None = None
                     ) -> dict[str, str]:
    """A callback's `resource` object (what WeChat sends; the fake uses this)."""
    nonce = nonce or secrets.token_hex(6)  # 12 characters, as WeChat's
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated_data, "nonce": nonce}


def decrypt_resource(apiv3_key: str, resource: dict[str, str]) -> bytes:
    """The plaintext of a callback's `resource`; ValueError when it does not decrypt (wrong key, altered)."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise ValueError("unsupported callback algorithm")
    try:
        return AESGCM(apiv3_key.encode()).decrypt(
            resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]),
            resource.get("associated_data", "").encode())
    except Exception as exc:  # InvalidTag, KeyError, binascii.Error: all mean "not ours"
        raise ValueError("the callback resource does not decrypt") from exc


def jsapi_signature(ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    """wx.config's signature: SHA-1 of the sorted fields, the page URL without its #fragment."""
    url = url.split("#", 1)[0]
    return hashlib.sha1(f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}".encode(),
                        usedforsecurity=False).hexdigest()
