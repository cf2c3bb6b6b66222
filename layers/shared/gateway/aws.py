"""Lazily created AWS clients and secrets.

Nothing here runs at import time: clients are built on first use and cached for the life of the
process (a Lambda execution environment), so cold starts stay cheap and tests can reset them after
starting moto. boto3's default session is not thread-safe, so creation happens under a lock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

#: How long a secret is used before it is read again, so a rotated secret (the test engine's, say) takes
#: effect within this many seconds without a redeploy.
SECRET_MAX_AGE_SECONDS = 300.0

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_secrets: dict[str, tuple[str, float]] = {}


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            import boto3

            _clients[service] = boto3.session.Session().client(service)
        return _clients[service]


def dynamodb() -> Any:
    return client("dynamodb")


def secret_string(secret_id: str, max_age: float = SECRET_MAX_AGE_SECONDS) -> str:
    """The SecretString of a Secrets Manager secret, read again once the cached value is `max_age` old."""
    now = time.monotonic()
    found = _secrets.get(secret_id)
    if found is None or now - found[1] >= max_age:
        value = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        _secrets[secret_id] = found = (value, now)
    return found[0]


def reset() -> None:
    """Forget every client and secret (tests switch between emulated accounts)."""
    with _lock:
        _clients.clear()
        _secrets.clear()
