"""NotificationsTable: settings per unit, suppressed addresses per unit, one record per (event, recipient).

Keys:
- `SETTINGS#<unit id>` / `SETTINGS`: the unit's own settings (only the fields it set);
- `SUPP#<unit id>` / `H#<keyed hash of the address, case-folded>`: an address the unit no longer mails
  (bounce, complaint). The key is an HMAC under the master key (`suppression_hash`), the address itself an
  attribute (`email`) that the privacy erasure removes: the entry then still blocks the address (a send
  looks it up by hash) without holding it;
- `MAIL#<mail id>` / `MAIL`: the outcome of one e-mail, `mail id` = hash of (event id, recipient). Its
  status goes `sending` (claimed, with a lease) -> `sent` | `suppressed` | `rejected`; see gateway.notify.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import error_code, from_item, storage_error, to_item, values

SENDING, SENT, SUPPRESSED, REJECTED = "sending", "sent", "suppressed", "rejected"


def _table() -> str:
    return get_settings().notifications_table


# ------------------------------------------------------------------------------------------- settings
def settings_key(unit_id: str) -> dict[str, str]:
    return {"pk": f"SETTINGS#{unit_id}", "sk": "SETTINGS"}


def settings_of(unit_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Own settings of each unit that has any (one BatchGetItem: a path is at most a few dozen units)."""
    found: dict[str, dict[str, Any]] = {}
    keys = [to_item(settings_key(u)) for u in dict.fromkeys(unit_ids)]
    for start in range(0, len(keys), 100):
        request = {_table(): {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        for _ in range(8):
            try:
                resp = aws.dynamodb().batch_get_item(RequestItems=request)
            except ClientError as exc:
                raise storage_error(exc) from exc
            for item in resp.get("Responses", {}).get(_table(), []):
                data = from_item(item)
                found[data["unit_id"]] = data
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
    return found


def update_settings(
    unit_id: str, sets: dict[str, Any], removes: list[str], now: str, by: str
) -> dict[str, Any]:
    """Set some fields of the unit's own settings and remove others (each field on its own: concurrent
    changes to different fields both stay)."""
    fields = sets | {
        "entity": "notification-settings",
        "unit_id": unit_id,
        "updated_at": now,
        "updated_by": by,
    }
    names = {f"#{k}": k for k in fields} | {f"#{k}": k for k in removes}
    update = "SET " + ", ".join(f"#{k} = :{k}" for k in fields)
    if removes:
        update += " REMOVE " + ", ".join(f"#{k}" for k in removes)
    try:
        resp = aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item(settings_key(unit_id)),
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values({f":{k}": v for k, v in fields.items()}),
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    return from_item(resp["Attributes"])


# --------------------------------------------------------------------------------------- suppressions
def suppression_hash(unit_id: str, address: str) -> str:
    """The keyed hash of an address suppressed by a unit: only the service (master key) can compute it."""
    from gateway import crypto

    return crypto.derive("suppression", f"{unit_id}|{address.casefold()}").hex()[:40]


def suppression_key(unit_id: str, address: str) -> dict[str, str]:
    return {"pk": f"SUPP#{unit_id}", "sk": f"H#{suppression_hash(unit_id, address)}"}


def forget_suppressed_address(unit_id: str, address: str, now: str) -> bool:
    """Keep the unit's suppression of `address` as its keyed hash only (privacy erasure); False if there
    is none."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item(suppression_key(unit_id, address)),
            UpdateExpression="SET erased_at = if_not_exists(erased_at, :now) REMOVE email, mail_id, detail",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values({":now": now}),
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


def history_of(unit_id: str, address: str) -> list[dict[str, Any]]:
    """Every mail record of `address` from the unit (RecipientIndex, all pages)."""
    found: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        items, start = history(unit_id, address, 100, start)
        found.extend(items)
        if not start:
            return found


def delete_mail(mail_id: str) -> None:
    try:
        aws.dynamodb().delete_item(TableName=_table(), Key=to_item(mail_key(mail_id)))
    except ClientError as exc:
        raise storage_error(exc) from exc


def suppress(unit_id: str, address: str, data: dict[str, Any]) -> bool:
    """Suppress `address` for the unit; False if it already was (the first reason is kept)."""
    item = suppression_key(unit_id, address) | {"entity": "suppression", "unit_id": unit_id} | data
    try:
        aws.dynamodb().put_item(
            TableName=_table(), Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


def suppressed(unit_id: str, address: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(
            TableName=_table(), Key=to_item(suppression_key(unit_id, address)), ConsistentRead=True
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    return from_item(resp["Item"]) if resp.get("Item") else None


def _page(request: dict[str, Any], start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], Any]:
    """One page of a query from `start` (a key as a page returned it): the items and the key to go on from."""
    if start:
        request["ExclusiveStartKey"] = to_item(start)
    try:
        resp = aws.dynamodb().query(**request)
    except ClientError as exc:
        raise storage_error(exc) from exc
    last = resp.get("LastEvaluatedKey")
    return [from_item(i) for i in resp.get("Items", [])], (from_item(last) if last else None)


def suppressions(unit_id: str, limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], Any]:
    request: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": values({":pk": f"SUPP#{unit_id}"}),
        "Limit": limit,
    }
    return _page(request, start)


def unsuppress(unit_id: str, address: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().delete_item(
            TableName=_table(), Key=to_item(suppression_key(unit_id, address)), ReturnValues="ALL_OLD"
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    old = resp.get("Attributes")
    return from_item(old) if old else None


# -------------------------------------------------------------------------------------- mail records
def mail_key(mail_id: str) -> dict[str, str]:
    return {"pk": f"MAIL#{mail_id}", "sk": "MAIL"}


def claim(record: dict[str, Any], now: float) -> bool:
    """Claim the (event, recipient) for sending: a new record, or one whose sender's lease ran out while it
    was still `sending` (that sender never got the message accepted: see gateway.notify)."""
    try:
        aws.dynamodb().put_item(
            TableName=_table(),
            Item=to_item(mail_key(record["mail_id"]) | record),
            ConditionExpression="attribute_not_exists(pk) OR (#s = :sending AND lease_until < :now)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values({":sending": SENDING, ":now": int(now)}),
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


def history_keys(unit_id: str, address: str, at: str, mail_id: str) -> dict[str, str]:
    return {"gsi1pk": f"RCPT#{unit_id}#{address.casefold()}", "gsi1sk": f"{at}#{mail_id}"}


def history(
    unit_id: str, address: str, limit: int, start: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], Any]:
    """E-mails to `address` from the unit, newest first (RecipientIndex)."""
    request: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": "RecipientIndex",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": values({":pk": f"RCPT#{unit_id}#{address.casefold()}"}),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    return _page(request, start)


def get_mail(mail_id: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(
            TableName=_table(), Key=to_item(mail_key(mail_id)), ConsistentRead=True
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    return from_item(resp["Item"]) if resp.get("Item") else None


def finish(mail_id: str, attempt: str, status: str, extra: dict[str, Any]) -> bool:
    """Record the outcome of our attempt (only while the record is still ours)."""
    fields = {"status": status} | extra
    names = {f"#{k}": k for k in fields} | {"#attempt": "attempt"}
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item(mail_key(mail_id)),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields) + " REMOVE lease_until",
            ConditionExpression="#attempt = :attempt",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values({f":{k}": v for k, v in fields.items()} | {":attempt": attempt}),
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


def release(mail_id: str, attempt: str) -> None:
    """Give the claim up after SES refused for now: the retry claims it afresh at once."""
    try:
        aws.dynamodb().delete_item(
            TableName=_table(),
            Key=to_item(mail_key(mail_id)),
            ConditionExpression="attempt = :attempt AND #s = :sending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values({":attempt": attempt, ":sending": SENDING}),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise storage_error(exc) from exc


def confirm_sent(mail_id: str, message_id: str, at: str) -> bool:
    """SES says it accepted the message (its Send event): the record is `sent`, whatever its sender did."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item(mail_key(mail_id)),
            UpdateExpression="SET #s = :sent, message_id = :mid, confirmed_at = :at REMOVE lease_until",
            ConditionExpression="#s = :sending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values(
                {":sent": SENT, ":sending": SENDING, ":mid": message_id, ":at": at}
            ),
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


def mark_feedback(mail_id: str, kind: str, at: str) -> None:
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item(mail_key(mail_id)),
            UpdateExpression="SET feedback = :kind, feedback_at = :at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values({":kind": kind, ":at": at}),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise storage_error(exc) from exc
