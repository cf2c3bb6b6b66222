"""Idempotency-Key support on top of powertools' idempotency utility (DynamoDB persistence).

A retry with the same key (same caller) gets the first reply and repeats no side effect; the same key
with a different body is refused (422); a retry while the first is still running gets 409. The
persistence layer is built on first use, never at import.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel

from gateway.config import get_settings
from gateway.errors import Conflict, DomainError, InvalidInput

M = TypeVar("M", bound=BaseModel)
HEADER = "idempotency-key"
MAX_KEY = 255
KEEP_SECONDS = 24 * 3600
# The Lambda context of the current request: powertools uses its remaining time to expire in-progress
# records of invocations that timed out.
lambda_context: ContextVar[Any] = ContextVar("lambda_context", default=None)


class KeyReused(DomainError):
    status, code = 422, 1


@lru_cache(maxsize=1)
def _persistence() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from gateway import aws

    return DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table, boto3_client=aws.dynamodb())


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY or any(ord(c) < 33 for c in key):
        raise InvalidInput("Idempotency-Key", f"must be 1-{MAX_KEY} visible characters")
    return key


def once(scope: str, key: str, payload: dict[str, Any], model: type[M], work: Callable[[], M]) -> M:
    """Run `work` once per (scope, key); later calls with the same payload get its result back."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="payload",
        expires_after_seconds=KEEP_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    if lambda_context.get() is not None:
        config.register_lambda_context(lambda_context.get())

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request",
        persistence_store=_persistence(),
        config=config,
        output_serializer=PydanticSerializer(model),
    )
    def run(request: dict[str, Any]) -> M:
        return work()

    try:
        result: M = run(request={"scope": scope, "key": key, "payload": payload})
        return result
    except IdempotencyValidationError as exc:
        raise KeyReused("Idempotency-Key: already used with a different request body") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict(
            "Idempotency-Key: a request with this key is still in progress; retry shortly"
        ) from exc


def reset() -> None:
    _persistence.cache_clear()
