"""Test-ID inventory: adding, reading, counting, allocating to child units and releasing test IDs.

Available means exactly the seed's rule: status `Ready` and `assigned-to` empty.
"""

from __future__ import annotations

import re
import secrets
import string
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway import orgs, stock
from gateway.auth import Caller
from gateway.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from gateway.itep import TEST_TYPE
from gateway.provisioning_contracts import (
    AddedTestIds,
    AllocationResult,
    HistoryEntry,
    InventoryCount,
    InventoryReport,
    Refused,
    StockLevel,
    TestIdPage,
    TestIdView,
)
from gateway.repo import inventory as repo
from gateway.repo import now_iso

STATUSES = (
    "Ready",
    "Started",
    "Finished",
    "Review",
    "Technical Difficulty",
    "Invalidated",
    "Completed",
    "Disabled",
)
TEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")
MAX_PASSWORD = 64
MAX_PAGE = 100
_PASSWORD_ALPHABET = string.ascii_uppercase.replace("O", "").replace("I", "") + "23456789"


def new_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(10))


def _unit(caller: Caller, unit_id: str | None, field: str = "org-unit") -> repo.Unit:
    if unit_id is None or unit_id == caller.unit_id:
        return repo.Unit(caller.unit_id, caller.unit_path, caller.tree)
    unit = orgs.unit_in_scope(caller, unit_id, field)
    return repo.Unit(unit.id, unit.path, unit.tree)


def unit_for(caller: Caller, unit_id: str | None, field: str = "org-unit") -> repo.Unit:
    """The caller's unit, or a unit below it (404 / 403 naming `field` otherwise)."""
    return _unit(caller, unit_id, field)


def check_new(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(test id, password, test type) of one new test ID, or InvalidInput naming what is wrong.
    Imports reuse this."""
    test_id, password, test_type = (entry.get(k) for k in ("test-id", "password", "test-type"))
    if not isinstance(test_id, str) or not TEST_ID.match(test_id.strip()):
        raise InvalidInput("test-id", "must be 3-40 letters, digits, '-' or '_'")
    if not isinstance(password, str) or not password.strip() or len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"must be 1-{MAX_PASSWORD} characters")
    if not isinstance(test_type, str) or not TEST_TYPE.match(test_type.strip()):
        raise InvalidInput("test-type", "must be 1-63 letters, digits, '-' or '_' (e.g. Academic-Plus)")
    return test_id.strip(), password.strip(), test_type.strip()


def add(caller: Caller, unit_id: str | None, entries: list[dict[str, Any]]) -> AddedTestIds:
    unit = _unit(caller, unit_id)
    now = now_iso()
    refusals: list[Refused] = []
    seen: set[str] = set()
    types: set[str] = set()
    added = 0
    for index, entry in enumerate(entries):
        raw_id = entry.get("test-id") if isinstance(entry, dict) else None
        shown = raw_id if isinstance(raw_id, str) else None
        try:
            if not isinstance(entry, dict):
                raise InvalidInput("test-ids", "each entry must be a JSON object")
            test_id, password, test_type = check_new(entry)
            if test_id.casefold() in seen:
                raise InvalidInput("test-id", "appears twice in this request")
            seen.add(test_id.casefold())
            repo.put_new(repo.new_test_id(unit, test_id, password, test_type, now, caller.key_id))
        except (InvalidInput, AlreadyExists) as exc:
            refusals.append(Refused(index=index, test_id=shown, reason=exc.description))
            continue
        types.add(test_type)
        added += 1
    for test_type in types:
        repo.remember_type(unit.tree, test_type)
        stock.check_quietly(unit.id, unit.path, unit.tree, test_type, refilled=True)
    return AddedTestIds(org_unit=unit.id, added=added, refused=len(refusals), refusals=refusals)


def view(item: dict[str, Any]) -> TestIdView:
    return TestIdView(
        test_id=item["test_id"],
        password=item["password"],
        test_type=item["test_type"],
        status=item["status"],
        available="avail_pk" in item,
        assigned_to=item.get("assigned_to") or {},
        registration=item.get("registration") or {},
        track=item.get("track"),
        product_code=item.get("product_code"),
        org_unit=item["unit_id"],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        history=[HistoryEntry(**h) for h in item.get("history", [])],
    )


def get(caller: Caller, test_id: str) -> TestIdView:
    item = repo.get(test_id)
    if item is None or item.get("tree") != caller.tree:
        raise NotFound(f"testId: no test ID '{test_id}'")
    caller.require_scope(item["unit_path"], "testId")
    return view(item)


def page(caller: Caller, limit: int, cursor: str | None, filters: dict[str, Any]) -> TestIdPage:
    if filters.get("status") and filters["status"] not in STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(STATUSES)}")
    items, next_cursor = repo.subtree_page(
        caller.tree, caller.unit_path, min(limit, MAX_PAGE), cursor, filters
    )
    return TestIdPage(items=[view(i) for i in items], next_cursor=next_cursor)


BURN_DAYS = 30


def report(caller: Caller) -> InventoryReport:
    """Counts per test type and status, and per test type the burn rate: test IDs handed out by fulfilment
    in the last 30 days (and not given back since) per day, and the days of stock left at that rate."""
    totals: Counter[tuple[str, str]] = Counter()
    assigned: Counter[tuple[str, str]] = Counter()
    available: Counter[tuple[str, str]] = Counter()
    used: Counter[str] = Counter()
    since = (datetime.now(UTC) - timedelta(days=BURN_DAYS)).isoformat(timespec="milliseconds")
    since = since.replace("+00:00", "Z")
    for item in repo.subtree_all(caller.tree, caller.unit_path):
        key = (item["test_type"], item["status"])
        totals[key] += 1
        assigned[key] += 1 if item.get("assigned_to") else 0
        available[key] += 1 if "avail_pk" in item else 0
        if item.get("product_code") and str(item.get("assigned_at", "")) >= since and "avail_pk" not in item:
            used[item["test_type"]] += 1
    counts = [
        InventoryCount(test_type=t, status=s, total=n, assigned=assigned[(t, s)], available=available[(t, s)])
        for (t, s), n in sorted(totals.items())
    ]
    levels = []
    for test_type in sorted({t for t, _ in totals}):
        in_stock = sum(n for (t, _), n in available.items() if t == test_type)
        rate = used[test_type] / BURN_DAYS
        levels.append(
            StockLevel(
                test_type=test_type,
                available=in_stock,
                used_last_30_days=used[test_type],
                burn_rate_per_day=round(rate, 2),
                days_of_stock_left=round(in_stock / rate, 1) if rate else None,
            )
        )
    return InventoryReport(
        org_unit=caller.unit_id,
        counts=counts,
        total=sum(totals.values()),
        available=sum(available.values()),
        stock=levels,
    )


def _history(event: str, by: str, now: str, **detail: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": now, "event": event, "by": by}
    if detail:
        entry["detail"] = detail
    return entry


def allocate(caller: Caller, unit_id: str, test_type: str, count: int) -> AllocationResult:
    target = _unit(caller, unit_id)
    if target.id == caller.unit_id:
        raise InvalidInput("org-unit", "must be a unit below the caller's unit")
    if repo.count_available(caller.unit_id, test_type) < count:
        raise Conflict(f"count: fewer than {count} available {test_type} test IDs in this unit")
    now = now_iso()
    moved: list[str] = []
    for _ in range(count):
        keys = repo.available_keys(target.id, test_type)
        item = repo.claim(
            caller.unit_id,
            test_type,
            "SET unit_id = :to_unit, unit_path = :to_path, tree_sk = :to_path, avail_pk = :apk, "
            "avail_sk = :ask, updated_at = :now, history = list_append(history, :entry)",
            {},
            {
                ":to_unit": target.id,
                ":to_path": target.path,
                ":apk": keys["avail_pk"],
                ":ask": keys["avail_sk"],
                ":now": now,
                ":entry": [
                    _history("allocated", caller.key_id, now, **{"from": caller.unit_id, "to": target.id})
                ],
            },
        )
        if item is None:
            break
        moved.append(item["test_id"])
    if moved:
        stock.check_quietly(caller.unit_id, caller.unit_path, caller.tree, test_type)
        stock.check_quietly(target.id, target.path, target.tree, test_type, refilled=True)
    return AllocationResult(
        org_unit=target.id, test_type=test_type, requested=count, moved=len(moved), test_ids=moved
    )


def release(caller: Caller, test_id: str) -> TestIdView:
    current = repo.get(test_id)
    if current is None or current.get("tree") != caller.tree:
        raise NotFound(f"testId: no test ID '{test_id}'")
    caller.require_scope(current["unit_path"], "testId")
    if current["status"] != repo.READY:
        raise Conflict(
            f"testId: the test has status {current['status']}; only a test not started can be released"
        )
    if not current.get("assigned_to"):
        raise Conflict("testId: the test is not assigned")
    now = now_iso()
    keys = repo.available_keys(current["unit_id"], current["test_type"])
    item = repo.update(
        test_id,
        "SET password = :password, avail_pk = :apk, avail_sk = :ask, updated_at = :now, "
        "history = list_append(history, :entry) "
        "REMOVE assigned_to, registration, track, product_code, email, email_lower, bcc, claim_id, "
        "exp_pk, exp_sk",
        "#status = :ready AND attribute_exists(assigned_to)",
        {"#status": "status"},
        {
            ":password": new_password(),
            ":apk": keys["avail_pk"],
            ":ask": keys["avail_sk"],
            ":now": now,
            ":ready": repo.READY,
            ":entry": [_history("released", caller.key_id, now)],
        },
    )
    if item is None:
        raise Conflict("testId: the test changed meanwhile (started or released); nothing was done")
    stock.check_quietly(item["unit_id"], item["unit_path"], item["tree"], item["test_type"], refilled=True)
    return view(item)
