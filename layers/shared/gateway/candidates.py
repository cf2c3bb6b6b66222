"""Candidate administration (issue 6): search, profile, update, transfer.

Search is served by the candidate indexes of CandidatesTable, never by scans: the most selective filter
given picks the index (e-mail, then username, name, status / level / test type / source, else the unit
tree) and the other filters are applied by DynamoDB on what that index reads. A unit's subtree is a
`begins_with` on its materialised path. Pages are keyset pages: the cursor (signed, bound to the search it
came from) is the key of the last candidate returned, so paging while candidates are added never repeats
or skips one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields
from typing import Any

from gateway import orgs
from gateway.auth import Caller
from gateway.candidate_contracts import (
    SOURCE,
    CandidateDetail,
    CandidateInvitation,
    CandidateItem,
    CandidatePage,
    CandidatePatch,
    CandidateTestId,
)
from gateway.config import get_settings
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.repo import candidates as repo
from gateway.repo import decode_cursor, directory, encode_cursor, now_iso
from gateway.repo import results as results_repo

MAX_PAGE = 100
MERGE_UNITS = 16  # a text search of a subtree of at most this many units merges per-unit ranges
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?$")


@dataclass(frozen=True)
class SearchFilters:
    email: str | None = None
    email_prefix: str | None = None
    username: str | None = None
    name: str | None = None
    level: str | None = None
    status: str | None = None
    test_type: str | None = None
    unit: str | None = None
    since: str | None = None
    until: str | None = None
    source: str | None = None
    include_hidden: bool = False


def _date(field: str, value: str | None, end: bool) -> str | None:
    if not value:
        return None
    text = value.strip()
    if not _DATE.match(text):
        raise InvalidInput(field, f"must be an ISO date (YYYY-MM-DD) or UTC date-time (got '{value}')")
    if len(text) == 10:  # a date is the whole day
        return text + ("T23:59:59.999Z" if end else "T00:00:00.000Z")
    return text


def build_query(caller: Caller, f: SearchFilters) -> repo.IndexQuery | repo.UnitMerge:
    """The index query for a search: the driving index and key, the rest as filters."""
    scope = caller.unit_path
    if f.unit:
        scope = orgs.unit_in_scope(caller, f.unit, "org-unit").path
    if f.source is not None and not SOURCE.match(f.source):
        raise InvalidInput("source", "must be 1-40 lower-case letters, digits, . _ -")
    tree = caller.tree
    since, until = _date("from", f.since, False), _date("to", f.until, True)
    if since and until and since > until:
        raise InvalidInput("from", "must not be after to")
    vals: dict[str, Any] = {":path": scope}
    names: dict[str, str] = {}
    filters: list[str] = []
    exact = {"status": f.status, "level": f.level, "test_type": f.test_type, "source": f.source}
    low_card = {"status": "CandStatusIndex", "level": "CandLevelIndex", "test_type": "CandTestTypeIndex"}
    low_card |= {"source": "CandSourceIndex"}
    pk_attr = {"status": "cs_pk", "level": "cl_pk", "test_type": "cy_pk", "source": "cr_pk"}
    prefix = {"status": "CS", "level": "CL", "test_type": "CY", "source": "CR"}
    texts: dict[str, tuple[str, str]] = {}  # attribute -> (prefix value, placeholder)
    if f.email:
        texts["ce_sk"] = (f.email.strip().casefold() + repo.SEP, ":email")
    elif f.email_prefix:
        texts["ce_sk"] = (f.email_prefix.strip().casefold(), ":email")
    if f.username:
        texts["cu_sk"] = (f.username.strip().casefold() + repo.SEP, ":username")
    if f.name:
        texts["cn_sk"] = (repo.fold(f.name), ":name")
    driver_text = next(iter(texts), None)
    driver_exact = next((k for k, v in exact.items() if v), None)
    if driver_text is not None:
        index = {"ce_sk": "CandEmailIndex", "cu_sk": "CandUsernameIndex", "cn_sk": "CandNameIndex"}[
            driver_text
        ]
        pk_name = driver_text.replace("_sk", "_pk")
        driver_value, driver_placeholder = texts.pop(driver_text)
        key = f"{pk_name} = :pk AND begins_with({driver_text}, {driver_placeholder})"
        vals |= {":pk": f"{pk_name[:2].upper()}#{tree}", driver_placeholder: driver_value}
        filters.append("begins_with(unit_path, :path)")
    elif driver_exact is not None:
        index = low_card[driver_exact]
        key = f"{pk_attr[driver_exact]} = :pk AND begins_with(ct_sk, :path)"
        vals[":pk"] = f"{prefix[driver_exact]}#{tree}#{exact.pop(driver_exact)}"
    else:
        index = "CandTreeIndex"
        key = "ct_pk = :pk AND begins_with(ct_sk, :path)"
        vals[":pk"] = f"CT#{tree}"
    for attr, (value, placeholder) in texts.items():
        filters.append(f"begins_with({attr}, {placeholder})")
        vals[placeholder] = value
    for attr, wanted in exact.items():
        if wanted:
            names[f"#{attr}"] = attr
            vals[f":{attr}"] = wanted
            filters.append(f"#{attr} = :{attr}")
    if not f.include_hidden:
        names["#hidden"] = "hidden"
        vals[":false"] = False
        filters.append("#hidden = :false")
    if since:
        vals[":since"] = since
        filters.append("created_at >= :since")
    if until:
        vals[":until"] = until
        filters.append("created_at <= :until")
    if driver_text is not None and scope != f"/{tree}/":
        # A subtree below the root: when it has few units, merge their per-unit ranges, so what is read is
        # what the subtree holds, not every match of the whole tree.
        units, more = directory.list_units(tree, scope, MERGE_UNITS, None)
        if more is None:
            per_unit = {
                "ce_sk": ("CandEmailUnitIndex", "ceu_pk", "CEU"),
                "cn_sk": ("CandNameUnitIndex", "cnu_pk", "CNU"),
            }
            per_unit["cu_sk"] = ("CandUsernameUnitIndex", "cuu_pk", "CUU")
            unit_index, unit_pk, unit_prefix = per_unit[driver_text]
            merge_vals = {k: v for k, v in vals.items() if k not in (":pk", ":path", driver_placeholder)}
            return repo.UnitMerge(
                unit_index,
                unit_pk,
                driver_text,
                unit_prefix,
                tuple(u.id for u in units),
                driver_value,
                [c for c in filters if c != "begins_with(unit_path, :path)"],
                names,
                merge_vals,
            )
    return repo.IndexQuery(index, key, filters, names, vals)


def _fingerprint(query: repo.IndexQuery | repo.UnitMerge) -> str:
    if isinstance(query, repo.UnitMerge):
        parts: list[Any] = [query.index, query.prefix, query.filters, query.vals, "merge"]
    else:
        parts = [query.index, query.key_condition, query.filters, query.vals]
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def item_view(record: dict[str, Any]) -> CandidateItem:
    return CandidateItem(
        id=record["id"],
        email=record["email"],
        full_name=record.get("full_name", ""),
        org_unit=record["unit_id"],
        hidden=bool(record.get("hidden", False)),
        username=record.get("username"),
        dial_code=record.get("dial_code"),
        phone=record.get("phone"),
        status=record.get("status"),
        level=record.get("level"),
        test_type=record.get("test_type"),
        source=record.get("source"),
        created_at=record["created_at"],
        updated_at=record.get("updated_at"),
    )


def search_page(
    caller: Caller, f: SearchFilters, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, int]:
    """(records, next cursor, items read) of one page."""
    query = build_query(caller, f)
    fingerprint = _fingerprint(query)
    limit = min(max(limit, 1), MAX_PAGE)
    state = decode_cursor(cursor)
    if state is not None and state.get("q") != fingerprint:
        raise InvalidInput("cursor", "belongs to another search (filters changed)")
    if isinstance(query, repo.UnitMerge):
        after = state.get("a") if state else None
        if state is not None and not isinstance(after, str):
            raise InvalidInput("cursor", "belongs to another search (filters changed)")
        items, mark, read = repo.merge_page(query, limit, after, bool(state and state.get("i")))
        next_mark = encode_cursor({"q": fingerprint, "a": mark[0], "i": mark[1]}) if mark else None
        return items, next_mark, read
    start = None
    if state is not None:
        if not isinstance(state.get("k"), dict):
            raise InvalidInput("cursor", "belongs to another search (filters changed)")
        start = state["k"]
    page = repo.query_page(query, limit, start)
    next_cursor = encode_cursor({"q": fingerprint, "k": page.last_key}) if page.last_key else None
    return page.items, next_cursor, page.read


def search(caller: Caller, f: SearchFilters, limit: int, cursor: str | None) -> CandidatePage:
    records, next_cursor, _ = search_page(caller, f, limit, cursor)
    return CandidatePage(items=[item_view(r) for r in records], next_cursor=next_cursor)


# ------------------------------------------------------------------------------------------ one candidate
def _in_scope(caller: Caller, candidate_id: str) -> dict[str, Any]:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", candidate_id):
        raise InvalidInput("candidateId", "is not a candidate id")
    record = repo.get_candidate(candidate_id)
    if record is None:
        raise NotFound(f"candidateId: no candidate '{candidate_id}'")
    caller.require_scope(str(record["unit_path"]), "candidateId")
    return record


def _versions(kind: str, subject: str) -> list[dict[str, Any]]:
    return [
        {
            "version": v.get("version"),
            "status": v.get("status"),
            "received-at": v.get("received_at"),
            "result": v.get("result", {}),
            **({"items": v["items"]} if "items" in v else {}),
        }
        for v in results_repo.versions(kind, subject)
    ]


def email_history(record: dict[str, Any], invitations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """E-mail sent to the candidate by its unit and by the units of the invitations the caller sees, newest
    first (the notification records of gateway.notify, by recipient address)."""
    from gateway.notify_admin import candidate_emails

    if not record.get("email") or not get_settings().notifications_table:
        return []
    units = [str(record["unit_id"])] + [str(inv["unit_id"]) for inv in invitations]
    return candidate_emails(units, str(record["email"]))


def _test_ids(record: dict[str, Any]) -> list[dict[str, Any]]:
    table = get_settings().inventory_table
    if not table:
        return []
    return repo.test_ids_of(repo.tree_of(record["unit_path"]), record["unit_path"], record["email"], table)


def detail_of(record: dict[str, Any], caller: Caller) -> CandidateDetail:
    """The candidate with what the caller may see of it: an invitation the old unit registered after the
    candidate moved stays that unit's, shown only to callers who see that unit."""
    invitations = [
        inv
        for inv in repo.get_invitations(sorted(int(i) for i in record.get("invitation_ids", set())))
        if caller.can_see(str(inv.get("unit_path", "")))
    ]
    tests = _test_ids(record)
    return CandidateDetail(
        **item_view(record).model_dump(by_alias=True),
        org_unit_path=record["unit_path"],
        invitations=[
            CandidateInvitation(
                test_invitation_id=int(inv["invitation_id"]),
                test_id=int(inv["test_id"]),
                status=inv.get("status", "Registered"),
                source=inv.get("source"),
                org_unit=inv["unit_id"],
                created_at=inv["created_at"],
                updated_at=inv.get("updated_at"),
                results=_versions("v2", str(inv["invitation_id"])),
            )
            for inv in invitations
        ],
        test_ids=[
            CandidateTestId(
                test_id=t["test_id"],
                test_type=t.get("test_type", ""),
                status=t.get("status", ""),
                product_code=t.get("product_code"),
                assigned_at=t.get("assigned_at"),
                results=_versions("itep", str(t["test_id"])),
            )
            for t in tests
        ],
        history=list(record.get("history", [])),
        email_history=email_history(record, invitations),
    )


def detail(caller: Caller, candidate_id: str) -> CandidateDetail:
    return detail_of(_in_scope(caller, candidate_id), caller)


def update(caller: Caller, candidate_id: str, patch: CandidatePatch) -> CandidateDetail:
    record = _in_scope(caller, candidate_id)
    given = patch.model_fields_set
    if not given:
        raise InvalidInput("body", "give at least one of full-name, username, dial-code, phone, hidden")
    sets: dict[str, Any] = {}
    removes: list[str] = []
    for name in ("full_name", "hidden"):
        if name in given and getattr(patch, name) is None:
            raise InvalidInput(name.replace("_", "-"), "must not be null")
    if "full_name" in given:
        sets["full_name"] = patch.full_name
    if "hidden" in given:
        sets["hidden"] = patch.hidden
    for name in ("username", "dial_code", "phone"):
        if name in given:
            value = getattr(patch, name)
            if value is None:
                removes.append(name)
            else:
                sets[name] = value
    merged = record | sets
    for name in removes:
        merged.pop(name, None)
    keys = repo.search_keys(merged)
    sets["cn_sk"] = keys["cn_sk"]
    if "username" in given:
        if keys["cu_pk"]:
            sets |= {"cu_pk": keys["cu_pk"], "cu_sk": keys["cu_sk"], "cuu_pk": keys["cuu_pk"]}
        else:
            removes += ["cu_pk", "cu_sk", "cuu_pk"]
    sets["updated_at"] = now_iso()
    changed = sorted(n.replace("_", "-") for n in given)
    entry = {"at": sets["updated_at"], "event": "updated", "by": caller.key_id, "detail": {"fields": changed}}
    updated = repo.update_candidate(candidate_id, record["unit_id"], sets, removes, entry)
    if updated is None:
        raise Conflict("candidateId: the candidate was moved or removed meanwhile; read it again")
    return detail_of(updated, caller)


def transfer(caller: Caller, candidate_id: str, org_unit: str) -> CandidateDetail:
    record = _in_scope(caller, candidate_id)
    target = orgs.unit_in_scope(caller, org_unit, "org-unit")
    if target.id == record["unit_id"]:
        return detail_of(record, caller)
    now = now_iso()
    entry = {
        "at": now,
        "event": "transferred",
        "by": caller.key_id,
        "detail": {"from": record["unit_id"], "to": target.id},
    }
    invitations = sorted(int(i) for i in record.get("invitation_ids", set()))
    tests = [str(t["test_id"]) for t in _test_ids(record)]
    repo.transfer(record, target.id, target.path, entry, invitations, tests, get_settings().inventory_table)
    moved = repo.get_candidate(candidate_id)
    if moved is None:
        raise NotFound(f"candidateId: no candidate '{candidate_id}'")
    return detail_of(moved, caller)


FILTER_FIELDS = tuple(f.name for f in fields(SearchFilters))
