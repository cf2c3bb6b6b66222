"""API-key authentication and organisation-unit scoping.

An API key is `<key id>.<secret>`; only SHA-256 of the secret is stored (the secret is 256 random bits,
so a slow hash adds nothing). A key chosen by an operator in another shape (e.g. LOCAL_ADMIN_API_KEY)
gets a key id derived from its hash. Verified keys are cached in memory for `key_cache_seconds`
(60 s): a revoked key may keep working that long on a warm Lambda instance, never longer.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from gateway import crypto
from gateway.config import get_settings
from gateway.contracts import Role
from gateway.errors import InvalidApiKey, MissingApiKey, OutOfScope, WrongRole
from gateway.repo import directory

HEADER = "x-api-key"
MAX_KEY_LENGTH = 512
_KEY = re.compile(r"^(key_[0-9a-f]{16})\.([A-Za-z0-9_-]{20,200})$")
_KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: Role
    unit_id: str
    unit_path: str
    tree: str

    def can_see(self, unit_path: str) -> bool:
        """Own unit and every unit below it; never siblings or parents."""
        return unit_path.startswith(self.unit_path)

    def require_scope(self, unit_path: str, what: str = "org-unit") -> None:
        if not self.can_see(unit_path):
            raise OutOfScope(f"{what}: outside the organisation units this API key may access")


_current: ContextVar[Caller | None] = ContextVar("caller", default=None)


def current_caller() -> Caller:
    caller = _current.get()
    if caller is None:  # a route without authentication asked for a caller: a programming error
        raise RuntimeError("no authenticated caller in this request")
    return caller


def set_caller(caller: Caller | None) -> None:
    _current.set(caller)


def new_key() -> tuple[str, str, str]:
    """A fresh key: (key id, full api key shown once, secret hash to store)."""
    key_id = f"key_{crypto.random_hex(8)}"
    secret = crypto.random_token(32)
    return key_id, f"{key_id}.{secret}", crypto.sha256_hex(secret)


def split_key(api_key: str) -> tuple[str, str]:
    """(key id, secret) of a presented key."""
    match = _KEY.match(api_key)
    if match:
        return match.group(1), match.group(2)
    return f"key_{crypto.sha256_hex(api_key)[:16]}", api_key


class _KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, directory.ApiKeyRecord]] = {}

    def get(self, key_id: str, ttl: float) -> directory.ApiKeyRecord | None:
        with self._lock:
            hit = self._items.get(key_id)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1]
        return None

    def put(self, record: directory.ApiKeyRecord) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[record.key_id] = (time.monotonic(), record)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._items.pop(key_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


key_cache = _KeyCache()


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _record(key_id: str) -> directory.ApiKeyRecord | None:
    record = key_cache.get(key_id, get_settings().key_cache_seconds)
    if record is None:
        record = directory.get_key(key_id)
        if record is not None and record.revoked_at is None:
            key_cache.put(record)
    return record


def authenticate(headers: Mapping[str, str] | None, body: bytes = b"") -> Caller:
    """The caller of a request: a plain key (`x-api-key: <key id>.<secret>`) or a signed request
    (`x-api-key: <key id>` with `x-timestamp` and `x-signature`)."""
    presented = (header(headers, HEADER) or "").strip()
    if not presented:
        raise MissingApiKey("x-api-key: header is required")
    if len(presented) > MAX_KEY_LENGTH:
        raise InvalidApiKey("x-api-key: not a valid API key")
    signature = header(headers, "x-signature")
    record: directory.ApiKeyRecord | None
    if signature is not None:
        record = _authenticate_signed(presented, header(headers, "x-timestamp"), signature, body)
    else:
        key_id, secret = split_key(presented)
        record = _record(key_id)
        # Compare even when the key is unknown, so timing says nothing about which key ids exist.
        matches = crypto.same(crypto.sha256_hex(secret), record.secret_hash if record else "0" * 64)
        if record is None or not matches or record.revoked_at is not None:
            raise InvalidApiKey("x-api-key: not a valid API key")
        if record.signed_only:
            raise InvalidApiKey("x-api-key: this key accepts signed requests only (x-timestamp, x-signature)")
    assert record is not None
    return Caller(
        key_id=record.key_id,
        role=Role(record.role),
        unit_id=record.unit_id,
        unit_path=record.unit_path,
        tree=record.tree,
    )


def _authenticate_signed(
    key_id: str, timestamp: str | None, signature: str, body: bytes
) -> directory.ApiKeyRecord:
    from gateway import signing
    from gateway.repo import nonces

    if not _KEY_ID.match(key_id):
        raise InvalidApiKey("x-api-key: with x-signature, send the key id alone (key_...)")
    record = _record(key_id)
    window = get_settings().signature_window_seconds
    # Verify even for an unknown key id, so timing says nothing about which key ids exist.
    verified = signing.verify(signing.signing_secret(key_id), timestamp, signature, body, window)
    if record is None or record.revoked_at is not None:
        raise InvalidApiKey("x-api-key: not a valid API key")
    if not nonces.remember(crypto.sha256_hex(verified.signature), verified.stamp + window + 60):
        raise InvalidApiKey("x-signature: already used (replayed request)")
    return record


ENGINE_KEY_ID = "engine"


def authenticate_engine(headers: Mapping[str, str] | None, body: bytes) -> None:
    """The test engine signs its requests with its own secret (Secrets Manager), with the same headers,
    time window and replay protection as signed tenant requests; it has no API key."""
    from gateway import aws, signing
    from gateway.repo import nonces

    signature = header(headers, "x-signature")
    if not signature:
        raise MissingApiKey("x-signature: the test engine must sign its requests (x-timestamp, x-signature)")
    settings = get_settings()
    secret = aws.secret_string(settings.engine_secret_id)
    verified = signing.verify(
        secret, header(headers, "x-timestamp"), signature, body, settings.signature_window_seconds
    )
    if not nonces.remember(
        crypto.sha256_hex("engine:" + verified.signature),
        verified.stamp + settings.signature_window_seconds + 60,
    ):
        raise InvalidApiKey("x-signature: already used (replayed request)")


def authorize(caller: Caller, roles: Iterable[Role]) -> None:
    allowed = set(roles)
    if caller.role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise WrongRole(f"x-api-key: role '{caller.role.value}' may not do this (needs: {names})")
