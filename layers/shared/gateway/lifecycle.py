"""What the shared layer keeps per process, and how to forget it.

A Lambda execution environment keeps settings, AWS clients, secrets, authenticated keys, catalogues and the
idempotency store for its whole life. Tests and the local stack start new emulated accounts (another moto,
other endpoints, other secrets) inside one Python process: they call :func:`reset_process` so the next
invocation behaves like one in a fresh execution environment.
"""

from __future__ import annotations


def reset_process() -> None:
    from gateway import auth, aws, catalogue, idempotency
    from gateway.config import get_settings
    from gateway.repo import objects

    get_settings.cache_clear()
    aws.reset()
    idempotency.reset()
    objects.reset()
    auth.key_cache.clear()
    catalogue.cache.clear()
