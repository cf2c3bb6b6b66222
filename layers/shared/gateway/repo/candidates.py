"""Candidates and invitations (CandidatesTable).

Items:
    CAND#<candidate id> / PROFILE   a candidate of one unit; gsi1 = UNIT#<unit> / <created>#<id>; the search
                                    indexes' keys (see `search_keys`); `invitation_ids` (a number set)
    INV#<invitation id> / INV       an invitation to one test; gsi1 = UNIT#<unit> / <created>#INV#<id>;
                                    callback_disabled_url / _at: the callbackURL that answered 410 Gone (the
                                    callback is disabled while callback_url is that URL)

A candidate's unit (unit_id, unit_path, gsi1pk, ct_sk) is set when it is created and changed only by a
transfer: a later registration of the same e-mail never moves it back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import Unavailable
from gateway.repo import (
    error_code,
    from_item,
    retryable_cancellation,
    storage_error,
    to_item,
    update_if,
    values,
)


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
    source: str = "api"

    @property
    def tree(self) -> str:
        return tree_of(self.unit_path)


# Separators of the search keys: e-mails and usernames never contain a space, names never a control
# character, so "<value><sep>" is an exact match and "<value>" a prefix.
SEP = " "
NAME_SEP = "\x1f"


def tree_of(unit_path: str) -> str:
    """The root unit of a materialised path (/root/child/ -> root)."""
    return unit_path.strip("/").split("/")[0]


def fold(text: str) -> str:
    return " ".join(text.casefold().split())


def search_keys(record: dict[str, Any]) -> dict[str, str | None]:
    """Every search-index key of a candidate record (None: the attribute is removed, sparse index)."""
    tree = tree_of(str(record["unit_path"]))
    cid = str(record["id"])

    def by(prefix: str, value: Any) -> str | None:
        return f"{prefix}#{tree}#{value}" if value not in (None, "") else None

    username = record.get("username")
    return {
        "ct_pk": f"CT#{tree}",
        "ct_sk": f"{record['unit_path']}{record['created_at']}#{cid}",
        "ce_pk": f"CE#{tree}",
        "ce_sk": f"{str(record['email']).casefold()}{SEP}{cid}",
        "cn_pk": f"CN#{tree}",
        "cn_sk": f"{fold(str(record.get('full_name') or ''))}{NAME_SEP}{cid}",
        "cu_pk": f"CU#{tree}" if username else None,
        "ceu_pk": f"CEU#{record['unit_id']}",
        "cnu_pk": f"CNU#{record['unit_id']}",
        "cuu_pk": f"CUU#{record['unit_id']}" if username else None,
        "cu_sk": f"{str(username).casefold()}{SEP}{cid}" if username else None,
        "cs_pk": by("CS", record.get("status")),
        "cl_pk": by("CL", record.get("level")),
        "cy_pk": by("CY", record.get("test_type")),
        "cr_pk": by("CR", record.get("source")),
    }


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
            "unit_id = if_not_exists(unit_id, :unit), unit_path = if_not_exists(unit_path, :path), "
            "tree = if_not_exists(tree, :tree), updated_at = :now, "
            "created_at = if_not_exists(created_at, :now), #source = if_not_exists(#source, :src), "
            "#hidden = if_not_exists(#hidden, :false), gsi1pk = if_not_exists(gsi1pk, :gpk), "
            "gsi1sk = if_not_exists(gsi1sk, :gsk_cand), #status = if_not_exists(#status, :registered), "
            "test_type = :test_type, ct_pk = :ct_pk, ct_sk = if_not_exists(ct_sk, :ct_sk), "
            "ce_pk = :ce_pk, ce_sk = :ce_sk, cn_pk = :cn_pk, cn_sk = :cn_sk, "
            "ceu_pk = if_not_exists(ceu_pk, :ceu_pk), cnu_pk = if_not_exists(cnu_pk, :cnu_pk), "
            "cs_pk = if_not_exists(cs_pk, :cs_pk), cy_pk = :cy_pk, cr_pk = if_not_exists(cr_pk, :cr_pk) "
            "ADD invitation_ids :iids"
        ),
        "ExpressionAttributeNames": {"#source": "source", "#hidden": "hidden", "#status": "status"},
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
        "unit_id = if_not_exists(unit_id, :unit)",
        "unit_path = if_not_exists(unit_path, :path)",
        "updated_at = :now",
        "created_at = if_not_exists(created_at, :now)",
        "#status = if_not_exists(#status, :registered)",
        "#source = if_not_exists(#source, :src)",
        "gsi1pk = if_not_exists(gsi1pk, :gpk)",
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
        ":src": reg.source,
        ":gpk": f"UNIT#{reg.unit_id}",
        ":registered": "Registered",
    }
    keys = search_keys(
        {
            "id": reg.candidate_id,
            "unit_id": reg.unit_id,
            "unit_path": reg.unit_path,
            "created_at": reg.now,
            "email": reg.email,
            "full_name": reg.full_name,
            "status": "Registered",
            "test_type": str(reg.test_id),
            "source": reg.source,
        }
    )
    candidate["ExpressionAttributeValues"] = values(
        shared
        | {":cand": "candidate", ":false": False, ":gsk_cand": f"{reg.now}#{reg.candidate_id}"}
        | {":tree": reg.tree, ":test_type": str(reg.test_id), ":iids": {reg.invitation_id}}
        | {f":{name}": keys[name] for name in ("ct_pk", "ct_sk", "ce_pk", "ce_sk", "cn_pk", "cn_sk")}
        | {f":{name}": keys[name] for name in ("cs_pk", "cy_pk", "cr_pk", "ceu_pk", "cnu_pk")}
    )
    inv_values = shared | {
        ":inv": "invitation",
        ":iid": reg.invitation_id,
        ":test": reg.test_id,
        ":dk": reg.dedupe_key,
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
            if not retryable_cancellation(exc):  # ValidationError and the like: not a concurrent twin
                raise storage_error(exc) from exc
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


def callback_disabled(invitation: dict[str, Any]) -> bool:
    """Whether the invitation's callback is disabled: its current callbackURL answered 410 Gone. A
    registration with another callbackURL enables it again (nothing to write: the URLs differ)."""
    url = invitation.get("callback_url")
    return url is not None and invitation.get("callback_disabled_url") == url


def disable_callback(invitation_id: int, url: str, now: str) -> dict[str, Any] | None:
    """Record that `url` answered 410 Gone, if it is still the invitation's callback. Returns the invitation:
    disabled for `url` (`callback_disabled_url`), with `callback_disabled_at` the first disabling of that URL
    however many 410s came; or as it is when `url` is not its callback any more (None: no such invitation)."""
    key = to_item({"pk": f"INV#{invitation_id}", "sk": "INV"})
    disabled = update_if(
        _table(),
        key,
        UpdateExpression="SET callback_disabled_url = :url, callback_disabled_at = :now",
        ConditionExpression="callback_url = :url AND "
        "(attribute_not_exists(callback_disabled_url) OR callback_disabled_url <> :url)",
        ExpressionAttributeValues=values({":url": url, ":now": now}),
    )
    if disabled is not None:
        return disabled
    try:  # already disabled for this URL (another 410), another callback URL since, or no such invitation
        item = aws.dynamodb().get_item(TableName=_table(), Key=key, ConsistentRead=True).get("Item")
    except ClientError as exc:
        raise storage_error(exc) from exc
    return from_item(item) if item else None


# ------------------------------------------------------------------------------ candidate administration
PROFILE_KEY = "PROFILE"


def candidate_key(candidate_id: str) -> dict[str, Any]:
    return to_item({"pk": f"CAND#{candidate_id}", "sk": PROFILE_KEY})


def get_candidate(candidate_id: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(
            TableName=_table(), Key=candidate_key(candidate_id), ConsistentRead=True
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    if not item:
        return None
    record = from_item(item)
    return record if record.get("entity") == "candidate" else None


def get_invitations(invitation_ids: list[int]) -> list[dict[str, Any]]:
    """The invitations with these ids (BatchGetItem, unprocessed keys retried), oldest first."""
    found: list[dict[str, Any]] = []
    pending = [to_item({"pk": f"INV#{i}", "sk": "INV"}) for i in invitation_ids]
    client = aws.dynamodb()
    for start in range(0, len(pending), 100):
        request: dict[str, Any] = {_table(): {"Keys": pending[start : start + 100], "ConsistentRead": True}}
        for attempt in range(8):
            try:
                resp = client.batch_get_item(RequestItems=request)
            except ClientError as exc:
                raise storage_error(exc) from exc
            found.extend(from_item(i) for i in resp.get("Responses", {}).get(_table(), []))
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.02 * 2**attempt)
        else:
            raise Unavailable("The data store is busy; retry the request.")
    return sorted(found, key=lambda i: (str(i.get("created_at", "")), int(i["invitation_id"])))


@dataclass(frozen=True)
class IndexQuery:
    """One search-index query: the index, its key condition and the filters DynamoDB applies after it."""

    index: str
    key_condition: str
    filters: list[str]
    names: dict[str, str]
    vals: dict[str, Any]


@dataclass
class QueryPage:
    items: list[dict[str, Any]]
    last_key: dict[str, Any] | None  # the key to start after (the last item returned), None: the end
    read: int  # items DynamoDB read (ScannedCount): the cost of the page


def query_page(
    query: IndexQuery, limit: int, start: dict[str, Any] | None, max_read: int = 1000
) -> QueryPage:
    """Up to `limit` matching items after `start`. Filters may drop items, so it queries on until the page is
    full, the index ends or `max_read` items were read. The cursor is the key of the last item RETURNED
    (or, on a short page, of the last item read), so nothing is skipped or repeated, whatever is added
    meanwhile. The first query reads exactly what is missing; when a filter proved selective, the next ones
    read what that selectivity says is needed (the surplus is cut off, the cursor stays exact)."""
    client = aws.dynamodb()
    items: list[dict[str, Any]] = []
    read = 0
    key_names = _key_names(query.index)
    next_start = start
    while True:
        missing = limit - len(items)
        chunk = missing if read == 0 or not items else -(-missing * read // len(items))
        if read and not items:
            chunk = missing * 4
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": query.index,
            "KeyConditionExpression": query.key_condition,
            "ExpressionAttributeValues": values(query.vals),
            "Limit": max(missing, min(chunk, max_read - read)),
        }
        if query.names:
            kwargs["ExpressionAttributeNames"] = query.names
        if query.filters:
            kwargs["FilterExpression"] = " AND ".join(query.filters)
        if next_start:
            kwargs["ExclusiveStartKey"] = next_start
        try:
            resp = client.query(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ValidationException" and start:
                from gateway.errors import InvalidInput

                raise InvalidInput("cursor", "is not a cursor for this search") from exc
            raise storage_error(exc) from exc
        read += int(resp.get("ScannedCount", 0))
        raws = resp.get("Items", [])
        if len(items) + len(raws) >= limit:
            kept = raws[:missing]
            items.extend(from_item(r) for r in kept)
            more = len(raws) > missing or resp.get("LastEvaluatedKey") is not None
            return QueryPage(
                items, {k: kept[-1][k] for k in key_names if k in kept[-1]} if more else None, read
            )
        items.extend(from_item(r) for r in raws)
        next_start = resp.get("LastEvaluatedKey")
        if next_start is None:
            return QueryPage(items, None, read)
        if read >= max_read:
            return QueryPage(items, next_start, read)  # a short page: resume after what was read


_INDEX_KEYS = {
    "CandTreeIndex": ("ct_pk", "ct_sk"),
    "CandEmailIndex": ("ce_pk", "ce_sk"),
    "CandNameIndex": ("cn_pk", "cn_sk"),
    "CandUsernameIndex": ("cu_pk", "cu_sk"),
    "CandEmailUnitIndex": ("ceu_pk", "ce_sk"),
    "CandNameUnitIndex": ("cnu_pk", "cn_sk"),
    "CandUsernameUnitIndex": ("cuu_pk", "cu_sk"),
    "CandStatusIndex": ("cs_pk", "ct_sk"),
    "CandLevelIndex": ("cl_pk", "ct_sk"),
    "CandTestTypeIndex": ("cy_pk", "ct_sk"),
    "CandSourceIndex": ("cr_pk", "ct_sk"),
}


def _key_names(index: str) -> tuple[str, ...]:
    return ("pk", "sk", *_INDEX_KEYS[index])


def update_candidate(
    candidate_id: str,
    unit_id: str,
    sets: dict[str, Any],
    removes: list[str],
    entry: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Set and remove attributes of a candidate still in `unit_id` (None: it moved or vanished meanwhile)."""
    names = {f"#{k}": k for k in [*sets, *removes]} | {"#unit": "unit_id"}
    vals = {f":{k}": v for k, v in sets.items()} | {":unit": unit_id}
    parts = [f"#{k} = :{k}" for k in sets]
    if entry is not None:
        names["#history"] = "history"
        vals |= {":entry": [entry], ":empty": []}
        parts.append("#history = list_append(if_not_exists(#history, :empty), :entry)")
    update = "SET " + ", ".join(parts) + (" REMOVE " + ", ".join(f"#{k}" for k in removes) if removes else "")
    return update_if(
        _table(),
        candidate_key(candidate_id),
        UpdateExpression=update,
        ConditionExpression="attribute_exists(pk) AND #unit = :unit",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values(vals),
    )


def transfer(
    candidate: dict[str, Any],
    to_unit_id: str,
    to_path: str,
    entry: dict[str, Any],
    invitation_ids: list[int],
    test_ids: list[str],
    inventory_table: str,
) -> None:
    """Move a candidate, its invitations and its open test IDs to another unit: ONE transaction,
    conditional on the candidate still being where it was read (a concurrent transfer loses: Conflict)."""
    from gateway.errors import Conflict

    record = dict(candidate) | {"unit_id": to_unit_id, "unit_path": to_path}
    keys = search_keys(record)
    old_unit = candidate["unit_id"]
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": _table(),
                "Key": candidate_key(candidate["id"]),
                "UpdateExpression": "SET unit_id = :unit, unit_path = :path, gsi1pk = :gpk, ct_sk = :ct_sk, "
                "ceu_pk = :ceu_pk, cnu_pk = :cnu_pk, updated_at = :now, "
                "history = list_append(if_not_exists(history, :empty), :entry)"
                + (", cuu_pk = :cuu_pk" if keys["cuu_pk"] else ""),
                "ConditionExpression": "attribute_exists(pk) AND unit_id = :old",
                "ExpressionAttributeValues": values(
                    {
                        ":unit": to_unit_id,
                        ":path": to_path,
                        ":gpk": f"UNIT#{to_unit_id}",
                        ":ct_sk": keys["ct_sk"],
                        ":ceu_pk": keys["ceu_pk"],
                        ":cnu_pk": keys["cnu_pk"],
                        **({":cuu_pk": keys["cuu_pk"]} if keys["cuu_pk"] else {}),
                        ":now": entry["at"],
                        ":entry": [entry],
                        ":empty": [],
                        ":old": old_unit,
                    }
                ),
            }
        }
    ]
    for inv in invitation_ids:
        items.append(
            {
                "Update": {
                    "TableName": _table(),
                    "Key": to_item({"pk": f"INV#{inv}", "sk": "INV"}),
                    "UpdateExpression": "SET unit_id = :unit, unit_path = :path, gsi1pk = :gpk, "
                    "updated_at = :now, history = list_append(if_not_exists(history, :empty), :entry)",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": values(
                        {
                            ":unit": to_unit_id,
                            ":path": to_path,
                            ":gpk": f"UNIT#{to_unit_id}",
                            ":now": entry["at"],
                            ":entry": [entry],
                            ":empty": [],
                        }
                    ),
                }
            }
        )
    for test_id in test_ids:
        # Only while still assigned to this candidate in the old unit (a release meanwhile wins).
        items.append(
            {
                "Update": {
                    "TableName": inventory_table,
                    "Key": to_item({"pk": f"TID#{test_id}", "sk": "TID"}),
                    "UpdateExpression": "SET unit_id = :unit, unit_path = :path, tree_sk = :path, "
                    "updated_at = :now, history = list_append(if_not_exists(history, :empty), :entry)",
                    "ConditionExpression": "unit_id = :old AND email_lower = :email",
                    "ExpressionAttributeValues": values(
                        {
                            ":unit": to_unit_id,
                            ":path": to_path,
                            ":now": entry["at"],
                            ":entry": [entry],
                            ":empty": [],
                            ":old": old_unit,
                            ":email": str(candidate["email"]).casefold(),
                        }
                    ),
                }
            }
        )
    if len(items) > 100:
        raise Conflict("candidateId: too many invitations and test IDs to move in one transfer (over 99)")
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                raise Conflict(
                    "candidateId: the candidate changed meanwhile; read it again and retry"
                ) from exc
        raise storage_error(exc) from exc


def test_ids_of(tree: str, unit_path: str, email: str, inventory_table: str) -> list[dict[str, Any]]:
    """Test IDs assigned to this e-mail in exactly this unit (inventory TreeIndex, the unit's own range)."""
    found: list[dict[str, Any]] = []
    paginator = aws.dynamodb().get_paginator("query")
    try:
        for page in paginator.paginate(
            TableName=inventory_table,
            IndexName="TreeIndex",
            KeyConditionExpression="tree_pk = :pk AND tree_sk = :path",
            FilterExpression="email_lower = :email",
            ExpressionAttributeValues=values(
                {":pk": f"TIDS#{tree}", ":path": unit_path, ":email": email.casefold()}
            ),
        ):
            found.extend(from_item(i) for i in page.get("Items", []))
    except ClientError as exc:
        raise storage_error(exc) from exc
    return sorted(found, key=lambda i: str(i.get("assigned_at", "")))


def summary_update(
    subject: dict[str, Any], status: str, fields: dict[str, Any], now: str
) -> list[dict[str, Any]]:
    """The candidate's search summary (status, level) after a result for one of its invitations, as a
    transaction item for the intake's transaction; nothing for a test ID (no candidate behind it)."""
    candidate_id = subject.get("candidate_id")
    if not candidate_id or not subject.get("unit_path"):
        return []
    tree = tree_of(str(subject["unit_path"]))
    level = next((fields[k] for k in ("Overall_cefr", "level", "Level") if fields.get(k)), None)
    sets = "#status = :status, cs_pk = :cs_pk, updated_at = :now"
    vals: dict[str, Any] = {":status": status, ":cs_pk": f"CS#{tree}#{status}", ":now": now}
    if level is not None:
        sets += ", #level = :level, cl_pk = :cl_pk"
        vals |= {":level": str(level), ":cl_pk": f"CL#{tree}#{level}"}
    return [
        {
            "Update": {
                "TableName": _table(),
                "Key": candidate_key(str(candidate_id)),
                # No condition: a result is never refused for its candidate's sake. Should the candidate be
                # gone, the stub this leaves has no entity and no ct_sk, so no search or read finds it.
                "UpdateExpression": "SET " + sets,
                "ExpressionAttributeNames": {"#status": "status"} | ({"#level": "level"} if level else {}),
                "ExpressionAttributeValues": values(vals),
            }
        }
    ]


# ------------------------------------------------------------------- small subtrees: merge per-unit ranges
TOP = "\U0010ffff"  # the highest code point: "<prefix><TOP>" is above every key that starts with prefix


@dataclass(frozen=True)
class UnitMerge:
    """A text search of a few units: one range per unit on a per-unit index, merged in key order."""

    index: str
    pk_attr: str
    sk_attr: str
    pk_prefix: str
    unit_ids: tuple[str, ...]
    prefix: str
    filters: list[str]
    names: dict[str, str]
    vals: dict[str, Any]


@dataclass
class _Stream:
    unit_id: str
    buffer: list[dict[str, Any]]
    start: dict[str, Any] | None = None
    done: bool = False
    last_read: str | None = None
    chunk: int = 2
    read_once: bool = False


def merge_page(
    m: UnitMerge, limit: int, after: str | None, inclusive: bool, max_read: int = 1000
) -> tuple[list[dict[str, Any]], tuple[str, bool] | None, int]:
    """Up to `limit` items in sort-key order from the units' ranges, starting after `after` (or at it when
    `inclusive`). Each unit is read lazily, a few items at a time, so what is read stays close to what is
    returned. A unit that has read up to key K without a match settles everything up to K, so a head below
    every such K is emitted without reading further. Returns (items, cursor as (sort key, inclusive) or
    None at the end, items read); out of reading budget, the cursor is the lowest position not yet settled
    (every unit is read at least once per call, so each call makes progress)."""
    client = aws.dynamodb()
    low = after if after is not None else m.prefix
    read = 0
    streams = [_Stream(u, [], chunk=1) for u in m.unit_ids]
    sk = m.sk_attr

    def fetch(stream: _Stream) -> None:
        nonlocal read
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": m.index,
            "KeyConditionExpression": f"{m.pk_attr} = :upk AND {sk} BETWEEN :low AND :high",
            "ExpressionAttributeValues": values(
                m.vals | {":upk": f"{m.pk_prefix}#{stream.unit_id}", ":low": low, ":high": m.prefix + TOP}
            ),
            # About this unit's share of what the page still misses; more when its last read found nothing.
            "Limit": min(
                200, max(-(-(limit - len(items)) // max(1, sum(not s.done for s in streams))), stream.chunk)
            ),
        }
        if m.names:
            kwargs["ExpressionAttributeNames"] = m.names
        if m.filters:
            kwargs["FilterExpression"] = " AND ".join(m.filters)
        if stream.start:
            kwargs["ExclusiveStartKey"] = stream.start
        try:
            resp = client.query(**kwargs)
        except ClientError as exc:
            raise storage_error(exc) from exc
        read += int(resp.get("ScannedCount", 0))
        for raw in resp.get("Items", []):
            record = from_item(raw)
            if after is not None and not inclusive and record[sk] == after:
                continue
            stream.buffer.append(record)
        stream.chunk = 1 if stream.buffer else min(stream.chunk * 2 + 1, 200)
        stream.start = resp.get("LastEvaluatedKey")
        if stream.start is None:
            stream.done = True
        else:
            stream.last_read = str(from_item(stream.start)[sk])
        # Settled past the start: a stream that only re-read the cursor's own item has not moved yet.
        stream.read_once = (
            bool(stream.buffer)
            or stream.done
            or after is None
            or inclusive
            or (stream.last_read is not None and stream.last_read > after)
        )

    items: list[dict[str, Any]] = []
    while len(items) < limit:
        pending = [s for s in streams if not s.buffer and not s.done]
        unread = [s for s in pending if not s.read_once]
        ready = [s for s in streams if s.buffer]
        best = min(ready, key=lambda s: str(s.buffer[0][sk])) if ready else None
        bound = min((str(s.last_read) for s in pending if s.read_once), default=None)
        if best is not None and not unread and (bound is None or str(best.buffer[0][sk]) < bound):
            items.append(best.buffer.pop(0))
            continue
        if not pending:
            return items, None, read  # every unit read to its end, every buffer emptied
        if read >= max_read and not unread:
            if items:
                return items, (str(items[-1][sk]), False), read
            marks = [(str(s.buffer[0][sk]), True) for s in ready]
            marks += [(str(s.last_read), False) for s in pending]
            return items, min(marks), read
        fetch(unread[0] if unread else min(pending, key=lambda s: str(s.last_read)))
    more = any(s.buffer or not s.done for s in streams)
    return items, ((str(items[-1][sk]), False) if more else None), read
