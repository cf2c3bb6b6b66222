"""Secrets are cached per process, but a rotated secret takes effect without a redeploy."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import aws


class _SecretsManager:
    def __init__(self) -> None:
        self.value = "first"
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        return {"SecretString": self.value}


def test_a_rotated_secret_is_read_again_once_the_cached_one_is_too_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given Secrets Manager holding "first", read once
    fake, clock = _SecretsManager(), [1000.0]
    monkeypatch.setattr(aws, "client", lambda service: fake)
    monkeypatch.setattr(aws.time, "monotonic", lambda: clock[0])
    aws.reset()
    assert aws.secret_string("engine") == "first"

    # When the secret is rotated
    fake.value = "second"

    # Then the cached value serves until it is max-age old, with no further reads
    clock[0] += aws.SECRET_MAX_AGE_SECONDS - 1
    assert aws.secret_string("engine") == "first"
    assert fake.calls == 1
    # And after that the new value is read, once
    clock[0] += 1
    assert aws.secret_string("engine") == "second"
    assert aws.secret_string("engine") == "second"
    assert fake.calls == 2
    aws.reset()
