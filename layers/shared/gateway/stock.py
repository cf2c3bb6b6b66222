"""Low-stock warnings: per unit and test type, an admin sets a threshold (and, optionally, extra addresses).

When the available test IDs of that type in that unit fall below the threshold, one `inventory.low` event
goes out (and with it one e-mail per recipient, sent by the mailer, gateway.notify), not one per
fulfilment: the first instance to see it disarms the threshold with a conditional write and only that one
warns. Stock back at or above the threshold after a refill re-arms it (checked after imports, expiry,
additions and releases, and at the next fulfilment; never without a refill since the warning).

Who is mailed: the unit's admins, i.e. the `admin-emails` of its notification settings (own or inherited,
as for `endpoint.disabled`), plus the threshold's own `notify` list, each address once. The mailer works
them out when it sends (notify.admin_recipients), so a warning costs the fulfilment no settings read. With
nobody to mail, the event still goes out and the warning is still counted.

Cost: nothing for a unit and type without a threshold (the threshold is cached per instance for
CACHE_SECONDS); with one, a count of the available index that stops at the threshold (usually one query).
The available index is eventually consistent, so a warning may come one fulfilment late; an instance's
cached arming state may lag another instance's by up to CACHE_SECONDS.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from aws_lambda_powertools import Logger

from gateway import events, observability
from gateway.auth import Caller
from gateway.errors import DomainError, InvalidInput
from gateway.inventory_contracts import ThresholdPage, ThresholdRequest, ThresholdView
from gateway.itep import TEST_TYPE
from gateway.repo import now_iso
from gateway.repo import stock as repo

logger = Logger(child=True)
CACHE_SECONDS = 30.0
_cache: dict[tuple[str, str, str], tuple[float, dict[str, Any] | None]] = {}
_lock = threading.Lock()


def _cached(tree: str, unit_path: str, test_type: str) -> dict[str, Any] | None:
    slot = (tree, unit_path, test_type.casefold())
    with _lock:
        hit = _cache.get(slot)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    item = repo.get(tree, unit_path, test_type)
    _remember(tree, unit_path, test_type, item)
    return item


def _remember(tree: str, unit_path: str, test_type: str, item: dict[str, Any] | None) -> None:
    with _lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[(tree, unit_path, test_type.casefold())] = (time.monotonic(), item)


def forget_cache() -> None:
    with _lock:
        _cache.clear()


def check(unit_id: str, unit_path: str, tree: str, test_type: str, refilled: bool = False) -> None:
    """Warn once if the unit's available IDs of `test_type` are below its threshold; re-arm if refilled.

    `refilled`: the caller just added stock (added, imported, released or allocated IDs, expiry). That is
    counted on the threshold (one write, read fresh rather than from the cache) and allows the re-arm,
    now or at a later check if the index does not show the new IDs yet. Without a refill since the last
    warning nothing re-arms it: a count from the lagging index while fulfilments race could otherwise."""
    stock_key = repo.key(tree, unit_path, test_type)
    if refilled:
        config = repo.refilled(stock_key)
        _remember(tree, unit_path, test_type, config)
    else:
        config = _cached(tree, unit_path, test_type)
    if not config or int(config.get("threshold", 0)) <= 0:
        return
    threshold = int(config["threshold"])
    available = repo.count_available(unit_id, test_type, threshold)
    now = now_iso()
    if available < threshold and config.get("armed", True):
        won = repo.disarm(stock_key, available, now)
        _remember(tree, unit_path, test_type, won or repo.get(tree, unit_path, test_type))
        if won is not None:
            _warn(won, available)
    elif available >= threshold and not config.get("armed", True):
        rearmed = repo.rearm(stock_key, available, now)
        _remember(tree, unit_path, test_type, rearmed or repo.get(tree, unit_path, test_type))


def check_quietly(unit_id: str, unit_path: str, tree: str, test_type: str, refilled: bool = False) -> None:
    """`check`, never failing the caller's work (a fulfilment is not undone for a warning)."""
    try:
        check(unit_id, unit_path, tree, test_type, refilled)
    except DomainError as exc:
        logger.warning(
            "low-stock check failed", extra={"unit": unit_id, "type": test_type, "error": str(exc)}
        )


def _warn(config: dict[str, Any], available: int) -> None:
    unit_id, test_type, threshold = config["unit_id"], config["test_type"], int(config["threshold"])
    notify = list(config.get("notify") or [])
    event_id = f"{events.INVENTORY_LOW}:{unit_id}:{test_type}:{int(config['warnings'])}"
    data = {"test-type": test_type, "available": available, "threshold": threshold, "notify": notify}
    try:
        events.publish(event_id, events.INVENTORY_LOW, unit_id, config["unit_path"], data)
    except DomainError:
        # Nothing went out: arm again so the next check warns.
        repo.rearm({"pk": config["pk"], "sk": config["sk"]}, available, now_iso())
        forget_cache()
        raise
    observability.count("InventoryLow")  # the low-inventory alarm's metric
    # The e-mails are the mailer's: dispatch forwards inventory.low to it (gateway.notify).


def _recipients(unit_paths: set[str]) -> dict[str, list[str]]:
    """Per unit path, the admin-emails a warning would be mailed to now (`notify` is added per threshold)."""
    from gateway import notify  # the mailer's rule; not needed on the fulfilment path

    return {path: notify.admin_recipients(notify.effective(path)) for path in unit_paths}


def _view(item: dict[str, Any], admins: list[str]) -> ThresholdView:
    from gateway import notify

    extra = list(item.get("notify") or [])
    return ThresholdView(
        org_unit=item["unit_id"],
        test_type=item["test_type"],
        threshold=int(item.get("threshold", 0)),
        notify=extra,
        recipients=notify.dedupe_addresses([*admins, *extra]),
        armed=bool(item.get("armed", True)),
        warnings=int(item.get("warnings", 0)),
        warned_at=item.get("warned_at"),
        available=item.get("last_available"),
        updated_at=item["updated_at"],
    )


def set_threshold(caller: Caller, request: ThresholdRequest) -> ThresholdView:
    from gateway import inventory  # inventory calls this module after its changes

    unit = inventory.unit_for(caller, request.org_unit)
    test_type = request.test_type.strip()
    if not TEST_TYPE.match(test_type):
        raise InvalidInput("test-type", "must be 1-63 letters, digits, '-' or '_' (e.g. Academic-Plus)")
    now = now_iso()
    if request.threshold == 0:
        repo.delete(unit.tree, unit.path, test_type)
        _remember(unit.tree, unit.path, test_type, None)
        return ThresholdView(
            org_unit=unit.id,
            test_type=test_type,
            threshold=0,
            notify=[],
            recipients=[],
            armed=False,
            warnings=0,
            updated_at=now,
        )
    from gateway import notify

    extra = notify.dedupe_addresses(list(request.notify))  # the threshold's own addresses, each once
    key = repo.key(unit.tree, unit.path, test_type)
    stored = repo.put(
        {
            **key,
            "entity": "stock-threshold",
            "unit_id": unit.id,
            "unit_path": unit.path,
            "test_type": test_type,
            "threshold": request.threshold,
            "notify": extra,
            "updated_at": now,
            "updated_by": caller.key_id,
        }
    )
    _remember(unit.tree, unit.path, test_type, stored)
    check_quietly(unit.id, unit.path, unit.tree, test_type)  # already below: warn now
    item = repo.get(unit.tree, unit.path, test_type)
    assert item is not None
    return _view(item, _recipients({unit.path})[unit.path])


def list_thresholds(caller: Caller) -> ThresholdPage:
    items = repo.subtree(caller.tree, caller.unit_path)
    admins = _recipients({i["unit_path"] for i in items})  # one settings read per unit with thresholds
    return ThresholdPage(items=[_view(i, admins[i["unit_path"]]) for i in items])
