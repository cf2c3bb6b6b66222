"""Result versions and the subject's life-cycle state, written together in one transaction.

subject (the test ID in InventoryTable, or the invitation in CandidatesTable):
    status, status_rank, result_digest (last message), seen_digests (every message), result_version
CandidatesTable  RES#<kind>#<subject> / V#<00001>   one version of a result (kept for ever)
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import error_code, from_item, storage_error, to_item, values


class Concurrent(Exception):
    """The subject changed between read and write (another message for the same test)."""


def subject_key(kind: str, subject: str) -> tuple[str, dict[str, Any]]:
    settings = get_settings()
    if kind == "itep":
        return settings.inventory_table, to_item({"pk": f"TID#{subject}", "sk": "TID"})
    return settings.candidates_table, to_item({"pk": f"INV#{subject}", "sk": "INV"})


def get_subject(kind: str, subject: str) -> dict[str, Any] | None:
    table, key = subject_key(kind, subject)
    try:
        resp = aws.dynamodb().get_item(TableName=table, Key=key, ConsistentRead=True)
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def apply(
    kind: str,
    subject: str,
    previous_digest: str | None,
    change: dict[str, Any],
    entry: dict[str, Any],
    version_item: dict[str, Any] | None,
    extra: list[dict[str, Any]] | None = None,
) -> None:
    """Move the subject to `change` (status, status_rank, result_digest, result_version, updated_at) and
    store `version_item` (and the `extra` transaction entries: the outcome), all or nothing; Concurrent if
    the subject moved meanwhile."""
    table, key = subject_key(kind, subject)
    names = {f"#{k}": k for k in change} | {"#history": "history"}
    sets = ", ".join(f"#{k} = :{k}" for k in change)
    update: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        # A test that has started is not available any more, whatever the inventory thought, and its
        # assignment can no longer expire (it leaves the expiry index).
        "UpdateExpression": f"SET {sets}, #history = list_append(if_not_exists(#history, :empty), :entry) "
        "ADD seen_digests :digest REMOVE avail_pk, avail_sk, exp_pk, exp_sk",
        "ConditionExpression": "attribute_exists(pk) AND "
        + ("attribute_not_exists(result_digest)" if previous_digest is None else "result_digest = :previous"),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(
            {f":{k}": v for k, v in change.items()}
            | {":entry": [entry], ":empty": [], ":digest": {change["result_digest"]}}
            | ({":previous": previous_digest} if previous_digest is not None else {})
        ),
    }
    items: list[dict[str, Any]] = [{"Update": update}]
    if version_item is not None:
        items.append(
            {
                "Put": {
                    "TableName": get_settings().candidates_table,
                    "Item": to_item(version_item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
    items.extend(extra or [])
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                raise Concurrent(subject) from exc
        raise storage_error(exc) from exc


def versions(kind: str, subject: str) -> list[dict[str, Any]]:
    try:
        resp = aws.dynamodb().query(
            TableName=get_settings().candidates_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues=values({":pk": f"RES#{kind}#{subject}", ":v": "V#"}),
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    return [from_item(i) for i in resp.get("Items", [])]
