"""Candidates and invitations (CandidatesTable).

Items:
    CAND#<candidate id> / PROFILE   a candidate of one unit; gsi1 = UNIT#<unit> / <created>#<id>
    INV#<invitation id> / INV       an invitation to one test; gsi1 = UNIT#<unit> / <created>#INV#<id>
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import Unavailable
from gateway.repo import error_code, from_item, storage_error, to_item, values


class InvitationIdTaken(Exception):
    """The derived invitation id already belongs to another (unit, test, e-mail)."""


@dataclass(frozen=True)
class Registration:
    invitation_id: int
    candidate_id: str
    dedupe_key: str
    unit_id: str
    unit_path: str
    test_id: int
    email: str
    full_name: str
    callback_url: str | None
    redirect_url: str | None
    now: str
    registered_by: str = ""


def _table() -> str:
    return get_settings().candidates_table


def upsert_registration(reg: Registration, attempts: int = 5) -> None:
    """Create or update candidate and invitation in ONE call (a two-item transaction).

    Both items have deterministic keys, so concurrent duplicates converge on the same items. The
    invitation is conditional on being new or belonging to the same (unit, test, e-mail): a derived-id
    collision raises InvitationIdTaken. Transaction conflicts with a concurrent twin are retried.
    """
    candidate = {
        "TableName": _table(),
        "Key": to_item({"pk": f"CAND#{reg.candidate_id}", "sk": "PROFILE"}),
        "UpdateExpression": (
            "SET entity = :cand, id = :cid, email = :email, email_lower = :email_lower, full_name = :name, "
            "unit_id = :unit, unit_path = :path, updated_at = :now, "
            "created_at = if_not_exists(created_at, :now), #source = if_not_exists(#source, :api), "
            "#hidden = if_not_exists(#hidden, :false), gsi1pk = :gpk, "
            "gsi1sk = if_not_exists(gsi1sk, :gsk_cand)"
        ),
        "ExpressionAttributeNames": {"#source": "source", "#hidden": "hidden"},
    }
    invitation_set = [
        "entity = :inv",
        "invitation_id = :iid",
        "candidate_id = :cid",
        "test_id = :test",
        "dedupe_key = :dk",
        "email = :email",
        "email_lower = :email_lower",
        "full_name = :name",
        "unit_id = :unit",
        "unit_path = :path",
        "updated_at = :now",
        "created_at = if_not_exists(created_at, :now)",
        "#status = if_not_exists(#status, :registered)",
        "#source = if_not_exists(#source, :api)",
        "gsi1pk = :gpk",
        "gsi1sk = if_not_exists(gsi1sk, :gsk_inv)",
        "registered_by = :by",
    ]
    removes = []
    for attr, value in (("callback_url", reg.callback_url), ("redirect_url", reg.redirect_url)):
        if value is None:
            removes.append(attr)
        else:
            invitation_set.append(f"{attr} = :{attr}")
    update = "SET " + ", ".join(invitation_set) + (" REMOVE " + ", ".join(removes) if removes else "")
    invitation = {
        "TableName": _table(),
        "Key": to_item({"pk": f"INV#{reg.invitation_id}", "sk": "INV"}),
        "UpdateExpression": update,
        "ConditionExpression": "attribute_not_exists(pk) OR dedupe_key = :dk",
        "ExpressionAttributeNames": {"#status": "status", "#source": "source"},
    }
    shared = {
        ":cid": reg.candidate_id,
        ":email": reg.email,
        ":email_lower": reg.email.casefold(),
        ":name": reg.full_name,
        ":unit": reg.unit_id,
        ":path": reg.unit_path,
        ":now": reg.now,
        ":api": "api",
        ":gpk": f"UNIT#{reg.unit_id}",
    }
    candidate["ExpressionAttributeValues"] = values(
        shared | {":cand": "candidate", ":false": False, ":gsk_cand": f"{reg.now}#{reg.candidate_id}"}
    )
    inv_values = shared | {
        ":inv": "invitation",
        ":iid": reg.invitation_id,
        ":test": reg.test_id,
        ":dk": reg.dedupe_key,
        ":registered": "Registered",
        ":gsk_inv": f"{reg.now}#INV#{reg.invitation_id}",
        ":by": reg.registered_by,
    }
    if reg.callback_url is not None:
        inv_values[":callback_url"] = reg.callback_url
    if reg.redirect_url is not None:
        inv_values[":redirect_url"] = reg.redirect_url
    invitation["ExpressionAttributeValues"] = values(inv_values)
    for attempt in range(attempts):
        try:
            aws.dynamodb().transact_write_items(TransactItems=[{"Update": candidate}, {"Update": invitation}])
            return
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise storage_error(exc) from exc
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise InvitationIdTaken(str(reg.invitation_id)) from exc
            if attempt == attempts - 1:
                raise Unavailable(
                    "The candidate is being registered concurrently; retry the request."
                ) from exc
            time.sleep(0.02 * 2**attempt)  # a concurrent twin holds the items: wait, then converge


def get_invitation(invitation_id: int) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(
            TableName=_table(), Key=to_item({"pk": f"INV#{invitation_id}", "sk": "INV"})
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None
