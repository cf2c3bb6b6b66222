"""Taking back test IDs whose assignment expired unused (the iTEP seed: "The test can then have a new
password assigned and made available again for a different candidate").

An assignment with `assigned-to.expire` is written to a sparse index keyed by its due time (fulfilment,
imports). The job reads only the due entries of that index, so its cost grows with the number of due
assignments, never with the inventory. Each is released with one conditional write: `assigned-to` cleared,
a new password, status Ready, a history entry, back in the available index. A test the candidate started a
moment earlier fails the condition and is left alone. Then one `assignment.expired` event goes out, with
the id `assignment.expired:<test id>:<assigned at>`.

Idempotent and resumable: the release and the event to publish are written together; the index entry goes
once the event is out. A run that crashes or times out in between leaves a pending entry that the next run
publishes first (same id; consumers de-duplicate). Nothing is released twice: the condition names the
assignment.
"""

from __future__ import annotations

import re
import time
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from gateway import events, inventory
from gateway.errors import DomainError, InvalidInput
from gateway.inventory_contracts import ExpiryRun
from gateway.repo import expiry as repo
from gateway.repo import inventory as inventory_repo
from gateway.repo import now_iso

logger = Logger(child=True)
PAGE = 100
SCHEDULE_MARGIN_SECONDS = 30.0
ROUTE_SECONDS = 20.0  # API Gateway gives up after 29 s


def parse_expire(value: Any) -> str:
    """`assigned-to.expire`: an ISO date or date-time, normalised to ISO (UTC assumed without offset)."""
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            normalised = date.fromisoformat(text).isoformat()
        else:
            normalised = datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError as exc:
        raise InvalidInput("assigned-to.expire", f"must be an ISO date or date-time, not '{text}'") from exc
    _due(normalised)  # refuses what has no due time (out of the UTC range)
    return normalised


def due_at(expire: Any) -> str:
    """When an assignment expiring at `expire` is due, in UTC (`YYYY-MM-DDTHH:MM:SSZ`): a date means the
    whole of that day (UTC), so it is due at the next midnight; a date-time without offset is UTC."""
    return _due(parse_expire(expire))


def _due(text: str) -> str:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.combine(date.fromisoformat(text) + timedelta(days=1), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(text)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31 has no next midnight; offsets can leave the UTC range
        raise InvalidInput(
            "assigned-to.expire", f"must fall between years 1 and 9999 in UTC, not '{text}'"
        ) from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def index_keys(token: str, assigned_to: dict[str, Any] | None) -> dict[str, str]:
    """The expiry-index attributes of an assignment (empty when it has no `expire`). `token` spreads
    entries over the shards and orders entries due at the same second: the test ID, or the claim id of a
    fulfilment (which does not know its test ID before the claim)."""
    if not assigned_to or assigned_to.get("expire") in (None, ""):
        return {}
    shard = zlib.crc32(token.encode()) % repo.SHARDS
    return {"exp_pk": repo.shard_key(shard), "exp_sk": f"{due_at(assigned_to['expire'])}#{token}"}


def _now_key() -> str:
    # Every entry due up to this second: "#~" sorts after any "#<test id>".
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "#~"


class _Run:
    def __init__(self, deadline: float, by: str) -> None:
        self.deadline = deadline
        self.by = by
        self.examined = self.released = self.skipped = self.read = 0
        self.complete = True
        self.refilled: set[tuple[str, str, str, str]] = set()

    def result(self) -> ExpiryRun:
        return ExpiryRun(
            examined=self.examined, released=self.released, skipped=self.skipped, complete=self.complete
        )

    def shard(self, shard: int, bound: str) -> bool:
        start: dict[str, Any] | None = None
        while True:
            if time.monotonic() >= self.deadline:
                return False
            items, start, read = repo.due_page(shard, bound, start, PAGE)
            self.read += read
            for entry in items:
                self.examined += 1
                self.handle(entry)
            if start is None:
                return True

    def handle(self, entry: dict[str, Any]) -> None:
        if str(entry["exp_sk"]).startswith(repo.PENDING):
            # Released by a run that stopped before its event went out (counted there): send it now.
            self.publish(entry["test_id"], entry["exp_sk"], entry.get("pending_event"))
            return
        now = now_iso()
        event_id = f"{events.ASSIGNMENT_EXPIRED}:{entry['test_id']}:{entry.get('assigned_at') or 'unknown'}"
        assigned_to = entry.get("assigned_to") or {}
        pending = {
            "id": event_id,
            "unit_id": entry["unit_id"],
            "unit_path": entry["unit_path"],
            "data": {
                "test-id": entry["test_id"],
                "test-type": entry["test_type"],
                "assigned-to": assigned_to,
                "assigned-at": entry.get("assigned_at"),
                "expire": assigned_to.get("expire"),
                "due-at": str(entry["exp_sk"]).split("#", 1)[0],
                "email": entry.get("email"),
                "released-at": now,
            },
        }
        history = {
            "at": now,
            "event": "expired",
            "by": self.by,
            "detail": {"expire": assigned_to.get("expire"), "assigned-at": entry.get("assigned_at")},
        }
        available = inventory_repo.available_keys(entry["unit_id"], entry["test_type"])
        if not repo.release(entry, inventory.new_password(), available, now, history, pending):
            self.skipped += 1
            repo.forget(entry["test_id"], entry["exp_sk"])  # started: never read it again
            return
        self.released += 1
        self.refilled.add((entry["unit_id"], entry["unit_path"], entry.get("tree", ""), entry["test_type"]))
        self.publish(entry["test_id"], repo.PENDING + entry["exp_sk"], pending)

    def publish(self, test_id: str, pending_sk: str, pending: Any) -> bool:
        if not isinstance(pending, dict):
            repo.published(test_id, pending_sk)
            return False
        try:
            events.publish(
                pending["id"],
                events.ASSIGNMENT_EXPIRED,
                pending["unit_id"],
                pending["unit_path"],
                pending["data"],
            )
        except DomainError:
            logger.warning(
                "assignment.expired not published; the next run retries", extra={"test_id": test_id}
            )
            return False
        repo.published(test_id, pending_sk)
        return True


def run(deadline: float, by: str = "expiry-job") -> ExpiryRun:
    """Release every due assignment, shard by shard, until done or `deadline` (time.monotonic())."""
    job = _Run(deadline, by)
    bound = _now_key()
    for shard in range(repo.SHARDS):
        if not job.shard(shard, bound):
            job.complete = False
            break
    logger.info(
        "expiry run",
        extra={
            "examined": job.examined,
            "released": job.released,
            "skipped": job.skipped,
            "items_read": job.read,
            "complete": job.complete,
        },
    )
    _rearm(job.refilled)
    return job.result()


def _rearm(refilled: set[tuple[str, str, str, str]]) -> None:
    from gateway import stock

    for unit_id, unit_path, tree, test_type in refilled:
        try:
            stock.check(unit_id, unit_path, tree, test_type, refilled=True)
        except DomainError:
            logger.warning("low-stock check failed after expiry", extra={"unit": unit_id, "type": test_type})


def run_for_schedule(remaining_ms: int) -> ExpiryRun:
    budget = max(1.0, remaining_ms / 1000 - SCHEDULE_MARGIN_SECONDS)
    return run(time.monotonic() + budget, by="schedule")


def run_now(caller_key: str) -> ExpiryRun:
    return run(time.monotonic() + ROUTE_SECONDS, by=caller_key)
