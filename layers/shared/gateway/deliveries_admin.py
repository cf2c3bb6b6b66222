"""What admins see and do with deliveries: list, inspect, replay; and pinging a track."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from gateway import deliveries, delivery_http, events, tracks, webhooks
from gateway.auth import Caller
from gateway.config import get_settings
from gateway.delivery_contracts import AttemptView, DeliveryPage, DeliveryView, PingResult, ReplayResult
from gateway.errors import InvalidInput, NotFound
from gateway.repo import deliveries as repo

MAX_PAGE = 100
MAX_QUERIES = 10  # per replay call: a sparse filter over a long range returns a cursor instead of running on


def _iso(field: str, value: str | None, default: str) -> str:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(field, f"must be an ISO date or date-time (got '{value}')") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        moment = parsed.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before the first representable UTC time
        raise InvalidInput(
            field, f"must be a date-time between years 1 and 9999 in UTC (got '{value}')"
        ) from exc
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _filters(filters: dict[str, str]) -> dict[str, str]:
    """The listing's filters, checked: an unknown status is the caller's mistake, not an empty listing."""
    status = filters.get("status")
    if status and status not in deliveries.STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(deliveries.STATUSES)} (got '{status}')")
    return filters


def _attempt(a: dict[str, Any]) -> AttemptView:
    return AttemptView(
        attempt=a["attempt"],
        at=a["at"],
        status_code=a.get("status_code"),
        latency_ms=a.get("latency_ms", 0),
        error=a.get("error"),
    )


def view(item: dict[str, Any], with_attempts: bool = False) -> DeliveryView:
    """A delivery; its attempts from their own items (`with_attempts`: every one), else from the latest
    ones the delivery carries (no extra read per listed delivery)."""
    if with_attempts:
        log: list[AttemptView] | None = [_attempt(a) for a in repo.attempts(item["id"])]
    elif "attempt_log" in item:
        log = [_attempt(a) for a in item["attempt_log"]]
    else:  # stored before deliveries carried their attempts
        log = [] if not item["attempts"] else None
    return DeliveryView(
        id=item["id"],
        event_id=item["event_id"],
        event_type=item["event_type"],
        endpoint=item["endpoint"],
        url=item["url"],
        status=item["status"],
        attempts=item["attempts"],
        last_status=item.get("last_status"),
        last_error=item.get("last_error"),
        org_unit=item["unit_id"],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        attempt_log=log,
    )


def _mine(caller: Caller, delivery: str) -> dict[str, Any]:
    item = repo.get(delivery)
    if item is None or item.get("tree") != caller.tree:
        raise NotFound(f"deliveryId: no delivery '{delivery}'")
    caller.require_scope(item["unit_path"], "id")
    return item


def page(
    caller: Caller,
    since: str | None,
    until: str | None,
    filters: dict[str, str],
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    items, next_cursor = repo.page(
        caller.tree,
        caller.unit_path,
        _iso("from", since, "0000"),
        _iso("to", until, "9999"),
        _filters(filters),
        min(limit, MAX_PAGE),
        cursor,
    )
    return DeliveryPage(items=[view(i) for i in items], next_cursor=next_cursor)


def get(caller: Caller, delivery: str) -> DeliveryView:
    return view(_mine(caller, delivery), with_attempts=True)


def replay_one(caller: Caller, delivery: str) -> DeliveryView:
    _mine(caller, delivery)
    item = deliveries.replay(delivery)
    if item is None:
        raise NotFound(f"deliveryId: no delivery '{delivery}'")
    return view(item)


def replay_range(
    caller: Caller, since: str, until: str, filters: dict[str, str], limit: int, cursor: str | None
) -> ReplayResult:
    """Replay up to `limit` deliveries of the range (newest first); `next_cursor` goes on from there. All
    the checks (dates, cursor) come before the first replay: a 4xx leaves every delivery as it was."""
    start, end = _iso("from", since, ""), _iso("to", until, "")
    _filters(filters)
    if start > end:
        raise InvalidInput("to", "must not be before from")
    limit = min(limit, MAX_PAGE)
    replayed: list[str] = []
    for _ in range(MAX_QUERIES):
        # At most `limit - len(replayed)` items evaluated: the cursor is exactly where this call stopped.
        items, cursor = repo.page(
            caller.tree, caller.unit_path, start, end, filters, limit - len(replayed), cursor
        )
        replayed += [item["id"] for item in items if deliveries.replay(item["id"]) is not None]
        if not cursor or len(replayed) >= limit:
            break
    return ReplayResult(replayed=len(replayed), deliveries=replayed, next_cursor=cursor)


def ping(caller: Caller, code: str) -> PingResult:
    """A signed `ping` event to the track, in the track's own format (itep-form: ONE form field `data`),
    its id also the `webhook-id`, as a real delivery would be; reports the reply. Works on a disabled
    track too (to check it before saving it again)."""
    track = tracks.usable(caller, code)
    ping_id = f"ping_{uuid.uuid4().hex}"
    event = events.envelope(ping_id, "ping", track["unit_id"], track["unit_path"], {"track": track["code"]})
    secret = tracks.signing_secret(caller.tree, track["code"])
    endpoint = deliveries.Endpoint(f"track:{track['code']}", track["url"], track["format"], secret)
    body, content_type = deliveries.body_for(endpoint, event)
    headers = {"content-type": content_type, **webhooks.headers(secret, ping_id, int(time.time()), body)}
    settings = get_settings()
    attempt = delivery_http.send(
        track["url"],
        body,
        headers,
        allow_loopback=settings.local_stack,
        timeout=settings.delivery_timeout_seconds,
    )
    return PingResult(
        ok=attempt.ok, status_code=attempt.status, latency_ms=attempt.latency_ms, error=attempt.error
    )
