"""Hashing, key derivation and constant-time comparison."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from gateway import aws
from gateway.config import get_settings


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


def master_key() -> bytes:
    return aws.secret_string(get_settings().app_secret_id).encode()


def derive(purpose: str, message: str) -> bytes:
    """HMAC-SHA256 of `message` under the master key, domain-separated by `purpose`."""
    return hmac.new(master_key(), f"{purpose}\x00{message}".encode(), hashlib.sha256).digest()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def random_hex(nbytes: int) -> str:
    return secrets.token_hex(nbytes)
