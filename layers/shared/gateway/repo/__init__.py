"""DynamoDB data access. The only layer that sees botocore's ClientError; it re-raises domain errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from gateway import aws, crypto
from gateway.errors import DomainError, InvalidInput, StorageFailure, Unavailable

logger = Logger(child=True)
_ser = TypeSerializer()
_de = TypeDeserializer()

THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionInProgressException",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_dynamo(value: Any) -> Any:
    """JSON-like values as DynamoDB takes them: floats become Decimals (boto3 refuses floats)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    """Decimals back to int or float, recursively, so stored JSON comes back as it was sent."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(_to_dynamo(v)) for k, v in data.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_de.deserialize(v)) for k, v in item.items()}


def values(data: Mapping[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues from plain Python values."""
    return {k: _ser.serialize(_to_dynamo(v)) for k, v in data.items()}


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


# Why a transaction item may be cancelled when a retry can still get through: "None" (this item was fine,
# another failed), a concurrent writer (a conflict, or a condition that no longer holds), a busy table. Any
# other reason (ValidationError, ItemCollectionSizeLimitExceeded, ...) refuses what the request holds.
RETRYABLE_CANCELLATIONS = {
    None,
    "None",
    "TransactionConflict",
    "ConditionalCheckFailed",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
}


def cancellation_reasons(exc: Exception) -> list[str | None]:
    response = getattr(exc, "response", None) or {}
    return [reason.get("Code") for reason in response.get("CancellationReasons", [])]


def retryable_cancellation(exc: Exception) -> bool:
    """A cancelled transaction a retry may get through (no item refused for what it holds)."""
    return all(reason in RETRYABLE_CANCELLATIONS for reason in cancellation_reasons(exc))


def storage_error(exc: Exception) -> DomainError:
    """What a failed DynamoDB call means to the client: busy (503, retry) or our bug (500, logged)."""
    code = error_code(exc)
    if code in THROTTLING or (code == "TransactionCanceledException" and retryable_cancellation(exc)):
        return Unavailable(f"The data store is busy ({code}); retry the request.")
    logger.exception("data store call failed", extra={"error_code": code})
    return StorageFailure("Internal error while storing data.")


# ---------------------------------------------------------------------------- opaque, signed cursors
def update_if(table: str, key: Mapping[str, Any], **params: Any) -> dict[str, Any] | None:
    """A conditional UpdateItem (`key` in DynamoDB's typed form, `params` the expressions): the item as it is
    afterwards, or None when its ConditionExpression did not hold."""
    try:
        resp = aws.dynamodb().update_item(TableName=table, Key=key, ReturnValues="ALL_NEW", **params)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise storage_error(exc) from exc
    return from_item(resp["Attributes"])


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    payload = json.dumps(last_key, sort_keys=True, separators=(",", ":")).encode()
    mac = crypto.derive("cursor", payload.decode())[:12]
    return crypto.b64url(mac + payload)


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mac, payload = raw[:12], raw[12:]
        if not crypto.same(crypto.b64url(mac), crypto.b64url(crypto.derive("cursor", payload.decode())[:12])):
            raise ValueError("bad mac")
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor", "is not a cursor this API issued") from exc
