"""Lazily created AWS clients and secrets.

Nothing here runs at import time: clients are built on first use and cached for the life of the
process (a Lambda execution environment), so cold starts stay cheap and tests can reset them after
starting moto. boto3's default session is not thread-safe, so creation happens under a lock.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_secrets: dict[str, str] = {}


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


def secret_string(secret_id: str) -> str:
    """The SecretString of a Secrets Manager secret, fetched once per process."""
    found = _secrets.get(secret_id)
    if found is None:
        found = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        _secrets[secret_id] = found
    return found


def reset() -> None:
    """Forget every client and secret (tests switch between emulated accounts)."""
    with _lock:
        _clients.clear()
        _secrets.clear()
