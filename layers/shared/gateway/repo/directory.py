"""Organisation units and API keys (DirectoryTable).

Items:
    OU#<id> / OU          an organisation unit; gsi1 = UNITS#<tree> / <path>   (subtree = begins_with)
    OUNAME#<parent>#<name> / GUARD   keeps sibling names unique
    KEY#<key id> / KEY    an API key (hash only); gsi1 = KEYS#<tree> / <unit path><key id>
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import AlreadyExists, InvalidInput
from gateway.repo import (
    THROTTLING,
    decode_cursor,
    encode_cursor,
    error_code,
    from_item,
    storage_error,
    to_item,
    values,
)

INDEX = "TreeIndex"


@dataclass(frozen=True)
class OrgUnit:
    id: str
    name: str
    parent_id: str | None
    path: str
    tree: str
    created_at: str

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> OrgUnit:
        return cls(
            id=rec["id"],
            name=rec["name"],
            parent_id=rec.get("parent_id"),
            path=rec["path"],
            tree=rec["tree"],
            created_at=rec["created_at"],
        )


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    secret_hash: str
    role: str
    unit_id: str
    unit_path: str
    tree: str
    created_at: str
    name: str | None = None
    revoked_at: str | None = None
    signed_only: bool = False

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> ApiKeyRecord:
        return cls(
            key_id=rec["key_id"],
            secret_hash=rec["secret_hash"],
            role=rec["role"],
            unit_id=rec["unit_id"],
            unit_path=rec["unit_path"],
            tree=rec["tree"],
            created_at=rec["created_at"],
            name=rec.get("name"),
            revoked_at=rec.get("revoked_at"),
            signed_only=bool(rec.get("signed_only", False)),
        )


def _table() -> str:
    return get_settings().directory_table


def get_unit(unit_id: str) -> OrgUnit | None:
    try:
        resp = aws.dynamodb().get_item(TableName=_table(), Key=to_item({"pk": f"OU#{unit_id}", "sk": "OU"}))
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return OrgUnit.from_record(from_item(item)) if item else None


def put_unit(unit: OrgUnit) -> None:
    """Create a unit; its name must be unused among its siblings (one transaction, both conditional)."""
    record = {
        "pk": f"OU#{unit.id}",
        "sk": "OU",
        "entity": "org-unit",
        "id": unit.id,
        "name": unit.name,
        "parent_id": unit.parent_id,
        "path": unit.path,
        "tree": unit.tree,
        "created_at": unit.created_at,
        "gsi1pk": f"UNITS#{unit.tree}",
        "gsi1sk": unit.path,
    }
    guard = {
        "pk": f"OUNAME#{unit.parent_id or '-'}#{unit.name.casefold()}",
        "sk": "GUARD",
        "unit_id": unit.id,
    }
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": _table(),
                        "Item": to_item(record),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": _table(),
                        "Item": to_item(guard),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise AlreadyExists(
                    f"name: a unit named '{unit.name}' already exists under this parent"
                ) from exc
        raise storage_error(exc) from exc


def _query_tree(
    partition: str, path_prefix: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a tree partition of the index, restricted to a subtree by path prefix."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": INDEX,
        "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
        "ExpressionAttributeValues": values({":pk": partition, ":prefix": path_prefix}),
        "Limit": limit,
    }
    start = decode_cursor(cursor)
    if start:
        kwargs["ExclusiveStartKey"] = start
    try:
        resp = aws.dynamodb().query(**kwargs)
    except ClientError as exc:
        if error_code(exc) == "ValidationException" and start:
            raise InvalidInput("cursor", "is not a cursor for this listing") from exc
        raise storage_error(exc) from exc
    return [from_item(i) for i in resp.get("Items", [])], encode_cursor(resp.get("LastEvaluatedKey"))


def list_units(
    tree: str, path_prefix: str, limit: int, cursor: str | None
) -> tuple[list[OrgUnit], str | None]:
    records, next_cursor = _query_tree(f"UNITS#{tree}", path_prefix, limit, cursor)
    return [OrgUnit.from_record(r) for r in records], next_cursor


def _key_record(key: ApiKeyRecord) -> dict[str, Any]:
    return {
        "pk": f"KEY#{key.key_id}",
        "sk": "KEY",
        "entity": "api-key",
        "key_id": key.key_id,
        "secret_hash": key.secret_hash,
        "role": key.role,
        "unit_id": key.unit_id,
        "unit_path": key.unit_path,
        "tree": key.tree,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "signed_only": key.signed_only,
        "gsi1pk": f"KEYS#{key.tree}",
        "gsi1sk": f"{key.unit_path}{key.key_id}",
    }


def put_key(key: ApiKeyRecord) -> None:
    try:
        aws.dynamodb().put_item(
            TableName=_table(), Item=to_item(_key_record(key)), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise AlreadyExists(f"key-id: {key.key_id} already exists") from exc
        raise storage_error(exc) from exc


def get_key(key_id: str) -> ApiKeyRecord | None:
    try:
        resp = aws.dynamodb().get_item(TableName=_table(), Key=to_item({"pk": f"KEY#{key_id}", "sk": "KEY"}))
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return ApiKeyRecord.from_record(from_item(item)) if item else None


def revoke_key(key_id: str, when: str) -> ApiKeyRecord | None:
    """Mark a key revoked (kept for audit). Returns the key, or None if there is no such key."""
    try:
        resp = aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item({"pk": f"KEY#{key_id}", "sk": "KEY"}),
            UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values({":now": when}),
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise storage_error(exc) from exc
    return ApiKeyRecord.from_record(from_item(resp["Attributes"]))


def list_keys(
    tree: str, path_prefix: str, limit: int, cursor: str | None
) -> tuple[list[ApiKeyRecord], str | None]:
    records, next_cursor = _query_tree(f"KEYS#{tree}", path_prefix, limit, cursor)
    return [ApiKeyRecord.from_record(r) for r in records], next_cursor


__all__ = ["THROTTLING", "ApiKeyRecord", "OrgUnit"]
