"""Import records and the test-ID writes of an import (InventoryTable), and the continuation queue.

    IMPORT#<id> / IMPORT   one import: unit, status, the S3 object it read (`source` = bucket/key#version
                           or ETag: the de-duplication key of S3's at-least-once events), progress
                           (`next_row`: the last row number done), counts, the first skipped rows, and
                           the state of the per-row report (multipart upload, parts, carried bytes)

Progress is committed once per segment with a condition on `next_row`, so a segment that runs twice
(a redelivered message, a concurrent duplicate) commits once. Test IDs written by an import carry
`import_id` / `import_row` / `import_outcome`: a segment re-run after a crash recognises its own writes.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import Unavailable
from gateway.repo import batch, error_code, from_item, storage_error, to_item, values
from gateway.repo import inventory as inventory_repo

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"
_EXISTING = (
    "test_id, password, test_type, #status, assigned_to, unit_id, tree, import_id, import_row, import_outcome"
)


def _table() -> str:
    return get_settings().inventory_table


def _key(import_id: str) -> dict[str, Any]:
    return to_item({"pk": f"IMPORT#{import_id}", "sk": "IMPORT"})


def get(import_id: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(TableName=_table(), Key=_key(import_id), ConsistentRead=True)
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def put_new(record: dict[str, Any]) -> bool:
    """Store a new import record; False when one with that id exists already."""
    item = {"pk": f"IMPORT#{record['import_id']}", "sk": "IMPORT", "entity": "import", **record}
    try:
        aws.dynamodb().put_item(
            TableName=_table(), Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


def _update(
    import_id: str, expression: str, condition: str, vals: dict[str, Any], names: dict[str, str] | None = None
) -> dict[str, Any] | None:
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "Key": _key(import_id),
        "UpdateExpression": expression,
        "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
        "ExpressionAttributeNames": {"#status": "status", **(names or {})},
        "ExpressionAttributeValues": values(vals),
        "ReturnValues": "ALL_NEW",
    }
    try:
        resp = aws.dynamodb().update_item(**kwargs)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise storage_error(exc) from exc
    return from_item(resp["Attributes"])


def claim(import_id: str, unit_id: str, source: dict[str, Any], now: str) -> dict[str, Any] | None:
    """Bind a pending import to the S3 object that arrived for it (first event wins); None if taken."""
    sets = ", ".join(f"#s_{k} = :s_{k}" for k in source)
    return _update(
        import_id,
        f"SET #status = :running, {sets}, next_row = :zero, started_row = :minus, updated_at = :now, "
        "started_at = :now",
        "#status = :pending AND attribute_not_exists(#s_source) AND unit_id = :unit",
        {
            ":running": RUNNING,
            ":pending": PENDING,
            ":zero": 0,
            ":minus": -1,
            ":now": now,
            ":unit": unit_id,
            **{f":s_{k}": v for k, v in source.items()},
        },
        {f"#s_{k}": k for k in {*source, "source"}},
    )


def segment_started(import_id: str, offset: int, now: str) -> bool:
    """Note that the segment from `offset` runs (so a lost continuation can be told and re-sent)."""
    return (
        _update(
            import_id,
            "SET started_row = :offset, updated_at = :now",
            "#status = :running AND next_row = :offset",
            {":offset": offset, ":now": now, ":running": RUNNING},
        )
        is not None
    )


def commit(
    import_id: str, offset: int, changes: dict[str, Any], adds: dict[str, Any], final_status: str | None
) -> dict[str, Any] | None:
    """Record one segment's work, once: SET `changes`, ADD `adds` (counts, types), optionally finish.
    None when another run of the same segment committed first (or the import is no longer running)."""
    names: dict[str, str] = {}
    vals: dict[str, Any] = {":offset": offset, ":running": RUNNING}
    sets = []
    for name, value in changes.items():
        names[f"#c_{name}"] = name
        vals[f":c_{name}"] = value
        sets.append(f"#c_{name} = :c_{name}")
    if final_status:
        sets.append("#status = :final")
        vals[":final"] = final_status
    expression = "SET " + ", ".join(sets)
    add = [f"#a_{name} :a_{name}" for name in adds]
    for name, value in adds.items():
        names[f"#a_{name}"] = name
        vals[f":a_{name}"] = value
    if add:
        expression += " ADD " + ", ".join(add)
    return _update(import_id, expression, "#status = :running AND next_row = :offset", vals, names)


def fail(import_id: str, error: str, now: str) -> dict[str, Any] | None:
    return _update(
        import_id,
        "SET #status = :failed, #error = :error, updated_at = :now, finished_at = :now",
        "#status = :running",
        {":failed": FAILED, ":error": error, ":now": now, ":running": RUNNING},
        {"#error": "error"},
    )


def enqueue(import_id: str, offset: int, delay: int = 0) -> None:
    """Ask for the segment of `import_id` after row `offset` (the continuation queue)."""
    try:
        aws.client("sqs").send_message(
            QueueUrl=get_settings().import_queue_url,
            MessageBody=json.dumps({"import-id": import_id, "offset": offset}, separators=(",", ":")),
            DelaySeconds=max(0, min(delay, 900)),
        )
    except ClientError as exc:
        raise Unavailable("imports: the continuation queue is unavailable; retry") from exc


# ------------------------------------------------------------------------------------- test-ID items
def existing(test_ids: list[str], stats: batch.Stats) -> dict[str, dict[str, Any]]:
    """The stored test IDs among `test_ids` (what an import compares a row with), by test ID."""
    keys = [{"pk": {"S": f"TID#{t}"}, "sk": {"S": "TID"}} for t in test_ids]
    found = batch.get(_table(), keys, _EXISTING, {"#status": "status"}, stats)
    return {item["test_id"]["S"]: from_item(item) for item in found}


def put_all(items: list[dict[str, Any]], stats: batch.Stats) -> None:
    batch.write(_table(), [batch.item(i) for i in items], stats)


def overwrite(
    test_id: str,
    unit_id: str,
    seen: dict[str, Any],
    fields: dict[str, Any],
    remove: list[str],
    entry: dict[str, Any],
) -> bool:
    """Change an available test ID to the row's values, only if it is exactly as the import read it (still
    available, same password and type): never over a claim that happened meanwhile."""
    names = {f"#f_{k}": k for k in fields}
    sets = [f"#f_{k} = :f_{k}" for k in fields]
    expression = "SET " + ", ".join(sets) + ", history = list_append(history, :entry)"
    if remove:
        expression += " REMOVE " + ", ".join(remove)
    item = inventory_repo.update(
        test_id,
        expression,
        "#status = :ready AND attribute_not_exists(assigned_to) AND unit_id = :unit "
        "AND password = :old_password AND test_type = :old_type",
        {"#status": "status", **names},
        {
            **{f":f_{k}": v for k, v in fields.items()},
            ":entry": [entry],
            ":ready": inventory_repo.READY,
            ":unit": unit_id,
            ":old_password": seen["password"],
            ":old_type": seen["test_type"],
        },
    )
    return item is not None
