"""Signature nonces (IdempotencyTable): a signature is accepted once inside its time window."""

from __future__ import annotations

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import error_code, storage_error, to_item


def remember(signature: str, expires_at: int) -> bool:
    """True the first time `signature` is seen; False when it was already used (a replay)."""
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().idempotency_table,
            Item=to_item({"id": f"nonce#{signature}", "expiration": expires_at}),
            ConditionExpression="attribute_not_exists(id)",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True
