"""Standard Webhooks signing (https://www.standardwebhooks.com) for the callbacks we send out.

    webhook-id:        <message id; the same on every retry, so receivers can de-duplicate>
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>

The endpoint's secret is "whsec_" + base64(key). A receiver may be sent several space-separated
signatures (e.g. while a secret rotates); any one that matches is enough. Standard library only, so
that importing it costs nothing on the API path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(ValueError):
    """A delivery's signature headers are missing, stale or do not match its body."""


def new_secret(raw: bytes) -> str:
    """The secret an endpoint is given, from random bytes (24 to 64 are recommended)."""
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("secret: not a whsec_ secret (whsec_ followed by base64)") from exc


def _mac(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: "v1," + base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>"."""
    return "v1," + _mac(_key(secret), msg_id, timestamp, body)


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers that go with a delivery of `body`."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Return if the delivery is genuine and fresh; raise WebhookVerificationError saying why not.

    Header names are case-insensitive. The timestamp may be at most `tolerance` seconds away from
    `now` (either way). Signatures are compared in constant time.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        if not lowered.get(name, "").strip():
            raise WebhookVerificationError(f"missing header {name}")
    msg_id = lowered[ID_HEADER].strip()
    stamp_text = lowered[TIMESTAMP_HEADER].strip()
    if not stamp_text.isascii() or not stamp_text.isdigit():
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is not unix seconds: {stamp_text!r}")
    skew = int(stamp_text) - (time.time() if now is None else now)
    if skew < -tolerance:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is too old ({-skew:.0f} s > {tolerance} s)")
    if skew > tolerance:
        raise WebhookVerificationError(
            f"{TIMESTAMP_HEADER} is too far in the future ({skew:.0f} s > {tolerance} s)"
        )
    expected = _mac(_key(secret), msg_id, stamp_text, body).encode("ascii")
    matched = False
    for candidate in lowered[SIGNATURE_HEADER].split():
        version, _, signature = candidate.partition(",")
        # Every candidate is compared (no early exit) so the time taken does not reveal which matched.
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            matched = True
    if not matched:
        raise WebhookVerificationError("no matching signature in webhook-signature")
