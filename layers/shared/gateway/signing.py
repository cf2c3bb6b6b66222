"""Signed requests (the iTEP seed's HMAC-SHA256 header) and the per-key signing secret.

    x-api-key:   <key id>
    x-timestamp: <unix seconds>
    x-signature: v1=<hex HMAC-SHA256(signing secret, "<timestamp>.<raw body>")>

The signing secret is derived from the key id under the master key (Secrets Manager): it is shown once
when the key is created and never stored anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import NamedTuple

from gateway import crypto
from gateway.errors import InvalidApiKey

PREFIX = "agsig_"


def signing_secret(key_id: str) -> str:
    return PREFIX + crypto.b64url(crypto.derive("signing-secret", key_id))


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


class Verified(NamedTuple):
    stamp: int  # the request's unix timestamp
    signature: str  # the signature that matched, in its one canonical form: what replay protection records


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    window: int,
    now: float | None = None,
) -> Verified:
    """The request's timestamp and matching signature if it is good and fresh; 401 otherwise. Constant-time
    compare. Replay protection must record the returned signature, never the header as sent: the header
    may wrap the same signature in other text (`v1=<sig>,`, `v1=<sig>,x`) that still verifies."""
    # isdigit alone admits other scripts' digits ("²", "١") that int() refuses: ASCII digits only.
    if not timestamp or not timestamp.strip().isascii() or not timestamp.strip().isdigit():
        raise InvalidApiKey("x-timestamp: required with x-signature, as unix seconds")
    stamp = int(timestamp.strip())
    if abs((time.time() if now is None else now) - stamp) > window:
        raise InvalidApiKey(f"x-timestamp: more than {window} seconds from the server's clock")
    expected = sign(secret, timestamp.strip(), body)
    presented = (signature or "").strip()
    # Several comma-separated signatures may be sent during a secret rotation; any may match.
    if not any(crypto.same(candidate.strip(), expected) for candidate in presented.split(",")):
        raise InvalidApiKey("x-signature: does not match the request")
    return Verified(stamp, expected)
