"""Outcomes, CT status and certificates (CandidatesTable).

Items:
    CAND#<candidate> / OUT#<kind>#<subject>   the outcome of one test (latest version), with the unit it
        was taken from (a candidate transferred later keeps it: ETAPI-55); out_pk = OUT#<tree>#<YYYY-MM>,
        out_sk = <unit path><date>#<candidate>#<kind>#<subject> (OutcomeIndex: a subtree and a month range)
    CAND#<candidate> / CT#<level>   the candidate's CT status for a level (passed stays passed)
    CERT#<code> / CERT              an issued certificate (code derived from the result: one per result);
        after the candidate's erasure a tombstone: `status: erased`, no name, no unit (see gateway.privacy)
    ANON#<random> / OUT#<n>         an erased candidate's outcome without identity (privacy): OutcomeIndex
        keys, unit, date, test type, level, result and missed statements only, for the institutional reports
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import error_code, from_item, storage_error, to_item, update_if, values

INDEX = "OutcomeIndex"


def _table() -> str:
    return get_settings().candidates_table


def tree_of(unit_path: str) -> str:
    return unit_path.strip("/").split("/")[0]


def outcome_key(candidate_id: str, kind: str, subject: str) -> dict[str, str]:
    return {"pk": f"CAND#{candidate_id}", "sk": f"OUT#{kind}#{subject}"}


def outcome_put(record: dict[str, Any]) -> dict[str, Any]:
    """The transaction entry that stores an outcome (it replaces the outcome of an earlier version)."""
    key = outcome_key(record["candidate_id"], record["kind"], record["subject"])
    index = {
        "out_pk": f"OUT#{tree_of(record['unit_path'])}#{record['date'][:7]}",
        "out_sk": f"{record['unit_path']}{record['date']}#{record['candidate_id']}#{record['kind']}#"
        f"{record['subject']}",
    }
    return {"Put": {"TableName": _table(), "Item": to_item({**key, "entity": "outcome", **record, **index})}}


def ct_status_update(candidate_id: str, level: str, passed: bool, details: dict[str, Any]) -> dict[str, Any]:
    """The transaction entry that updates the candidate's CT status of a level: a pass sets `passed`, a
    fail sets `failed` unless the level was passed before (ETAPI-16: done before any certificate)."""
    sets = ", ".join(f"#{k} = :{k}" for k in details)
    new_status = ":passed" if passed else "if_not_exists(#status, :failed)"
    return {
        "Update": {
            "TableName": _table(),
            "Key": to_item({"pk": f"CAND#{candidate_id}", "sk": f"CT#{level}"}),
            "UpdateExpression": f"SET #status = {new_status}, #entity = :entity, {sets}",
            "ExpressionAttributeNames": {"#status": "status", "#entity": "entity"}
            | {f"#{k}": k for k in details},
            "ExpressionAttributeValues": values(
                {":entity": "ct-status"}
                | ({":passed": "passed"} if passed else {":failed": "failed"})
                | {f":{k}": v for k, v in details.items()}
            ),
        }
    }


def get(key: dict[str, str]) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(TableName=_table(), Key=to_item(key), ConsistentRead=True)
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def of_candidate(candidate_id: str) -> list[dict[str, Any]]:
    """Every outcome and CT status of a candidate (one query; a candidate has few)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": values({":pk": f"CAND#{candidate_id}"}),
    }
    try:
        while True:
            resp = aws.dynamodb().query(**kwargs)
            items.extend(from_item(i) for i in resp.get("Items", []))
            if not resp.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    except ClientError as exc:
        raise storage_error(exc) from exc


def in_subtree(
    tree: str, unit_path: str, months: list[str], since: str, until: str
) -> Iterator[dict[str, Any]]:
    """Outcomes of a subtree whose test date is in [since, until]: one query per month (reads grow with the
    outcomes of those months in the subtree, never with the table)."""
    for month in months:
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": INDEX,
            "KeyConditionExpression": "out_pk = :pk AND begins_with(out_sk, :path)",
            "FilterExpression": "#date BETWEEN :since AND :until",
            "ExpressionAttributeNames": {"#date": "date"},
            "ExpressionAttributeValues": values(
                {":pk": f"OUT#{tree}#{month}", ":path": unit_path, ":since": since, ":until": until}
            ),
        }
        try:
            while True:
                resp = aws.dynamodb().query(**kwargs)
                yield from (from_item(i) for i in resp.get("Items", []))
                if not resp.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        except ClientError as exc:
            raise storage_error(exc) from exc


# ------------------------------------------------------------------------------------------ certificates
def certificate(code: str) -> dict[str, Any] | None:
    return get({"pk": f"CERT#{code}", "sk": "CERT"})


def record_certificate(record: dict[str, Any], outcome: dict[str, str], level: str) -> bool:
    """Store a certificate and link it from the outcome and the CT status, all or nothing. False if the
    certificate exists already (another attempt issued it: nothing is written twice)."""
    code = record["code"]
    link = values({":code": code})
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": _table(),
                "Item": to_item({"pk": f"CERT#{code}", "sk": "CERT", "entity": "certificate", **record}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": _table(),
                "Key": to_item(outcome),
                "UpdateExpression": "SET certificate = :code",
                "ExpressionAttributeValues": link,
            }
        },
        {
            "Update": {
                "TableName": _table(),
                "Key": to_item({"pk": outcome["pk"], "sk": f"CT#{level}"}),
                "UpdateExpression": "SET certificate = :code",
                "ConditionExpression": "#status = :passed",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values({":code": code, ":passed": "passed"}),
            }
        },
    ]
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
        raise storage_error(exc) from exc
    return True


def link_profile(candidate_id: str, code: str) -> None:
    """Add the certificate to the candidate's profile, if the candidate has one."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item({"pk": f"CAND#{candidate_id}", "sk": "PROFILE"}),
            UpdateExpression="ADD certificates :code",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values({":code": {code}}),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise storage_error(exc) from exc


def revoke(code: str, when: str, by: str, reason: str | None) -> dict[str, Any] | None:
    expression = (
        "SET revoked_at = if_not_exists(revoked_at, :now), revoked_by = if_not_exists(revoked_by, :by)"
    )
    vals: dict[str, Any] = {":now": when, ":by": by}
    if reason:
        expression += ", revoke_reason = if_not_exists(revoke_reason, :reason)"
        vals[":reason"] = reason
    return update_if(
        _table(),
        to_item({"pk": f"CERT#{code}", "sk": "CERT"}),
        UpdateExpression=expression,
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues=values(vals),
    )


# ------------------------------------------------------------------------------------------ erasure
ERASED = "erased"


def anonymise_outcome(original: dict[str, Any], anonymous: dict[str, Any]) -> bool:
    """Replace an outcome by its anonymous copy, all or nothing (False: the original is gone already)."""
    items = [
        {"Put": {"TableName": _table(), "Item": to_item(anonymous)}},
        {
            "Delete": {
                "TableName": _table(),
                "Key": to_item({"pk": original["pk"], "sk": original["sk"]}),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
        raise storage_error(exc) from exc
    return True


def erase_certificate(code: str, now: str) -> None:
    """The certificate becomes a tombstone: its code answers `erased`, nothing about the holder stays."""
    item = {"pk": f"CERT#{code}", "sk": "CERT", "entity": "certificate", "code": code, "status": ERASED}
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item({"pk": item["pk"], "sk": item["sk"]}),
            UpdateExpression="SET #status = :erased, erased_at = if_not_exists(erased_at, :now) "
            "REMOVE candidate_id, #name, org_unit, unit_id, unit_path, test_type, #level, cefr, issued_on, "
            "kind, subject, pdf_key, verify_url, created_at, revoked_at, revoked_by, revoke_reason",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#status": "status", "#name": "name", "#level": "level"},
            ExpressionAttributeValues=values({":erased": ERASED, ":now": now}),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise storage_error(exc) from exc
