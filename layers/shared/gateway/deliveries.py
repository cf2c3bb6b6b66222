"""Callbacks out: every event goes to every endpoint that asked for it, signed, retried, never lost.

Flow: events queue -> `dispatch` (one delivery record per endpoint, each queued on the delivery queue)
-> `deliver` (one attempt; on failure the message is queued again with exponential backoff and jitter for
about three days, then the delivery is dead and goes to the dead-letter queue). Every attempt of one
delivery carries the same `webhook-id`, so receivers can de-duplicate.

`410 Gone` disables the endpoint and tells the unit's admins (`endpoint.disabled`): a track until it is saved
again; a V2 callback (persisted on the invitation) until the candidate is registered again with another
callbackURL. An event for a disabled callback is recorded as a `skipped` delivery (replayable), not sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from gateway import aws, crypto, delivery_http, events, tracks, webhooks
from gateway.config import get_settings
from gateway.errors import Unavailable
from gateway.repo import candidates as candidates_repo
from gateway.repo import deliveries as repo
from gateway.repo import now_iso
from gateway.repo import tracks as tracks_repo

logger = Logger(child=True)
# Seconds to wait after the 1st, 2nd, ... failed attempt (jitter +-20%): about 2.9 days in all, 11 attempts.
SCHEDULE = (5, 60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600)
MAX_SQS_DELAY = 900
ATTEMPTS_LISTED = 20  # attempts a delivery carries for listings (every attempt also has an item of its own)
RESULT_EVENTS = {
    "started",
    "finished",
    "review",
    "technical-difficulty",
    "completed",
    "invalidated",
    "disabled",
}

# What a delivery can be: waiting for its next attempt, delivered, given up after the retries (dead-lettered),
# stopped by a 410 Gone from the endpoint, or never sent because the endpoint was disabled by an earlier 410.
STATUSES = ("pending", "succeeded", "dead", "disabled", "skipped")


@dataclass(frozen=True)
class Endpoint:
    key: str  # "track:<code>" or "callback:<invitation>"
    url: str
    format: str  # itep-form | json | v2-callback
    secret: str
    disabled: str | None = None  # why nothing is sent (the delivery is recorded as skipped)


def schedule() -> tuple[float, ...]:
    configured = get_settings().delivery_retry_schedule
    return tuple(float(s) for s in configured.split(",")) if configured else SCHEDULE


def next_delay(failures: int, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after `failures` failed attempts; None when it is time to give up."""
    steps = schedule()
    if failures < 1 or failures > len(steps):
        return None
    return steps[failures - 1] * (rng or random).uniform(0.8, 1.2)


def callback_secret(key_id: str) -> str:
    """The Standard Webhooks secret V2 callbacks of a key are signed with (shown when the key is created)."""
    return webhooks.new_secret(crypto.derive("callback-secret", key_id))


def _tree(unit_path: str) -> str:
    return unit_path.strip("/").split("/")[0]


def endpoints_for(event: dict[str, Any]) -> list[Endpoint]:
    kind, data, path = event["type"], event.get("data", {}), event["unit-path"]
    tree = _tree(path)
    found: list[Endpoint] = []
    if kind in RESULT_EVENTS and data.get("kind") == "itep":
        track = tracks_repo.get(tree, data["track"]) if data.get("track") else None
        if (
            track
            and not track.get("disabled")
            and (kind in track["events"] or (kind == "finished" and track.get("send_on_finish")))
        ):
            found.append(
                Endpoint(
                    f"track:{track['code']}",
                    track["url"],
                    track["format"],
                    tracks.signing_secret(tree, track["code"]),
                )
            )
    elif kind in RESULT_EVENTS:
        if kind == "completed" and data.get("callback-url") and data.get("key-id"):
            found.append(
                Endpoint(
                    f"callback:{data['subject']}",
                    data["callback-url"],
                    "v2-callback",
                    callback_secret(data["key-id"]),
                    _callback_disabled(int(data["subject"]), data["callback-url"]),
                )
            )
    else:  # unit events (assignment.expired, inventory.low, ...): every track of the unit or above that asked
        for track in tracks_repo.in_subtree(tree, f"/{tree}/"):
            if path.startswith(track["unit_path"]) and kind in track["events"] and not track.get("disabled"):
                found.append(
                    Endpoint(
                        f"track:{track['code']}",
                        track["url"],
                        track["format"],
                        tracks.signing_secret(tree, track["code"]),
                    )
                )
    return found


def _callback_disabled(invitation_id: int, url: str) -> str | None:
    """Why a V2 callback is not sent: its URL answered 410 Gone and is still the invitation's callback."""
    invitation = candidates_repo.get_invitation(invitation_id)
    if invitation is None or not candidates_repo.callback_disabled(invitation):
        return None
    if invitation["callback_disabled_url"] != url:
        return None
    return (
        f"not sent: the callbackURL answered 410 Gone at {invitation['callback_disabled_at']} and is "
        "disabled; register the candidate again with another callbackURL to enable it"
    )


def body_for(endpoint: Endpoint, event: dict[str, Any]) -> tuple[bytes, str]:
    data = event.get("data", {})
    if endpoint.format == "v2-callback":
        result = data.get("result", {})
        payload: dict[str, Any] = {
            "CandidateEmailId": data.get("email"),
            "AttemptedOn": result.get("AttemptedOn"),
            "TotalScore": result.get("TotalScore"),
            "CandidateScore": result.get("CandidateScore"),
            "ReportPDFUrl": result.get("ReportPDFUrl"),
            "TestInvitationId": result.get("TestInvitationId"),
        }
        return json.dumps(payload).encode(), "application/json"
    if event["type"] in RESULT_EVENTS and data.get("kind") == "itep":
        # The seed's webhook exactly, as the engine sent it, with OID filled from trExternal_ID.
        payload = dict(data.get("raw", {}))
        if data.get("external-id") is not None:
            payload["OID"] = str(data["external-id"])
    else:
        payload = {
            "type": event["type"],
            "id": event["id"],
            "occurred-at": event["occurred-at"],
            "org-unit": event["org-unit"],
            "data": data,
        }
    text = json.dumps(payload, separators=(",", ":"))
    if endpoint.format == "itep-form":
        return urlencode({"data": text}).encode(), "application/x-www-form-urlencoded"
    return text.encode(), "application/json"


def delivery_id(event_id: str, endpoint_key: str) -> str:
    return "dlv_" + hashlib.sha256(f"{event_id}|{endpoint_key}".encode()).hexdigest()[:24]


def _enqueue(delivery: str, delay: float = 0) -> None:
    """Queue the next attempt `delay` seconds from now, rounded up: SQS takes whole seconds, and a message
    that came back early would only be queued again."""
    try:
        aws.client("sqs").send_message(
            QueueUrl=get_settings().delivery_queue_url,
            MessageBody=json.dumps({"delivery": delivery}),
            DelaySeconds=min(math.ceil(max(delay, 0)), MAX_SQS_DELAY),
        )
    except ClientError as exc:
        raise Unavailable("deliveries: the delivery queue is unavailable") from exc


def dispatch(event: dict[str, Any]) -> list[str]:
    """One delivery per endpoint that asked for `event`; a repeated event creates nothing new, but queues
    again a delivery that is still pending and was never attempted (so a failed SendMessage is not a lost
    delivery). An event that may send e-mail also goes on to the mailer (gateway.notify; it de-duplicates
    on the event id)."""
    from gateway import notify

    notify.forward(event)
    created = []
    now, path = now_iso(), event["unit-path"]
    for endpoint in endpoints_for(event):
        body, content_type = body_for(endpoint, event)
        record = {
            "id": delivery_id(event["id"], endpoint.key),
            "event_id": event["id"],
            "event_type": event["type"],
            "endpoint": endpoint.key,
            "url": endpoint.url,
            "format": endpoint.format,
            "unit_id": event["org-unit"],
            "unit_path": path,
            "tree": _tree(path),
            "body": base64.b64encode(body).decode(),
            "content_type": content_type,
            "status": "pending",
            "attempts": 0,
            "cycle_failures": 0,
            "created_at": now,
            "updated_at": now,
            "next_attempt_at": 0,
            "expiration": int(time.time()) + repo.RETENTION_SECONDS,
            "key_id": event.get("data", {}).get("key-id") if endpoint.format == "v2-callback" else None,
        }
        if endpoint.disabled:
            record |= {"status": "skipped", "last_error": endpoint.disabled}
        stored = repo.create(record)
        if stored is None:
            if not endpoint.disabled:
                _enqueue(record["id"])
            created.append(record["id"])
        elif stored["status"] == "pending" and int(stored["attempts"]) == 0:
            # The event came back (queueing failed after the put, or the worker crashed there): without
            # this the delivery would stay pending forever. Once attempted, `deliver` re-queues it itself.
            _enqueue(record["id"])
    return created


def _secret(record: dict[str, Any]) -> str:
    kind, _, name = record["endpoint"].partition(":")
    if kind == "track":
        return tracks.signing_secret(record["tree"], name)
    return callback_secret(record["key_id"]) if record.get("key_id") else ""


def _disable_endpoint(record: dict[str, Any]) -> None:
    """Disable the track or the V2 callback that answered 410 Gone and tell the unit that owns it (the mailer
    e-mails its admins). Every 410 of one disabling (deliveries in flight, retries) announces the same event
    id, so the admins get one e-mail. A callback URL that is no longer the invitation's (registered again
    with another one since) disables nothing: only that delivery stopped."""
    kind, _, name = record["endpoint"].partition(":")
    now = now_iso()
    track = tracks_repo.disable(record["tree"], name, now) if kind == "track" else None
    invitation = None
    if kind == "callback":
        invitation = candidates_repo.disable_callback(int(name), record["url"], now)
        if invitation is not None and invitation.get("callback_disabled_url") != record["url"]:
            invitation = None  # the URL is not the invitation's callback any more: nothing to disable
    if track is not None:
        event_id = f"{events.ENDPOINT_DISABLED}:{record['endpoint']}:{track['disabled_at']}"
        unit_id, unit_path = track["unit_id"], track["unit_path"]
    elif invitation is not None:
        event_id = f"{events.ENDPOINT_DISABLED}:{record['endpoint']}:{invitation['callback_disabled_at']}"
        unit_id, unit_path = record["unit_id"], record["unit_path"]
    else:
        event_id = f"{events.ENDPOINT_DISABLED}:{record['endpoint']}:{record['id']}"
        unit_id, unit_path = record["unit_id"], record["unit_path"]
    events.publish(
        event_id,
        events.ENDPOINT_DISABLED,
        unit_id,
        unit_path,
        {
            "endpoint": record["endpoint"],
            "track": name if kind == "track" else None,
            "invitation": int(name) if invitation is not None else None,
            "url": record["url"],
            "delivery": record["id"],
            "reason": "the endpoint answered 410 Gone",
        },
    )


def deliver(delivery: str, now: float | None = None) -> str:
    """Make the next attempt of a delivery if it is due; returns what happened."""
    now = time.time() if now is None else now
    record = repo.get(delivery)
    if record is None or record["status"] != "pending":
        return "nothing to do"
    due = float(record.get("next_attempt_at", 0))
    if due > now:
        _enqueue(delivery, max(1.0, due - now))  # longer than SQS can delay, or came back early: wait again
        return "not due"
    number = int(record["attempts"]) + 1
    claimed = repo.update(
        delivery,
        {"attempts": number, "updated_at": now_iso()},
        "#status = :pending AND attempts = :seen",
        {":pending": "pending", ":seen": number - 1},
    )
    if claimed is None:
        return "taken by another worker"
    body = base64.b64decode(record["body"])
    headers = {
        "content-type": record["content_type"],
        "user-agent": "AssessmentGateway-Webhooks/1.0",
        **webhooks.headers(_secret(record), delivery, int(now), body),
    }
    settings = get_settings()
    attempt = delivery_http.send(
        record["url"],
        body,
        headers,
        allow_loopback=settings.local_stack,
        timeout=settings.delivery_timeout_seconds,
    )
    logged = {
        "at": now_iso(),
        "attempt": number,
        "status_code": attempt.status,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
    }
    repo.add_attempt(delivery, number, logged, int(time.time()) + repo.RETENTION_SECONDS)
    sets: dict[str, Any] = {
        "last_status": attempt.status,
        "last_error": attempt.error,
        "updated_at": now_iso(),
        # The latest attempts on the delivery itself, so a listing shows them without a read per delivery.
        # `record` is as of the claim: no other attempt can have been logged since.
        "attempt_log": [*record.get("attempt_log", []), logged][-ATTEMPTS_LISTED:],
    }
    if attempt.ok:
        repo.update(delivery, sets | {"status": "succeeded"}, "attempts = :n", {":n": number})
        return "succeeded"
    if attempt.status == 410:
        _disable_endpoint(record)  # first: if announcing fails, SQS retries the message and this again
        repo.update(delivery, sets | {"status": "disabled"}, "attempts = :n", {":n": number})
        return "disabled"
    failures = int(record.get("cycle_failures", 0)) + 1
    delay = next_delay(failures)
    if delay is None:
        repo.update(
            delivery, sets | {"status": "dead", "cycle_failures": failures}, "attempts = :n", {":n": number}
        )
        _dead_letter(record, attempt.error)
        return "dead"
    repo.update(
        delivery,
        sets | {"cycle_failures": failures, "next_attempt_at": now + delay},
        "attempts = :n",
        {":n": number},
    )
    _enqueue(delivery, delay)
    return "retrying"


def _dead_letter(record: dict[str, Any], error: str | None) -> None:
    try:
        aws.client("sqs").send_message(
            QueueUrl=get_settings().delivery_dead_letter_queue_url,
            MessageBody=json.dumps(
                {"delivery": record["id"], "endpoint": record["endpoint"], "error": error}
            ),
        )
    except ClientError as exc:
        raise Unavailable("deliveries: the dead-letter queue is unavailable") from exc
    logger.warning("delivery dead-lettered", extra={"delivery": record["id"], "endpoint": record["endpoint"]})


def replay(delivery: str) -> dict[str, Any] | None:
    """Send a delivery again from the start of the schedule (whatever its state)."""
    record = repo.update(
        delivery,
        {"status": "pending", "cycle_failures": 0, "next_attempt_at": 0, "updated_at": now_iso()},
        "attribute_exists(pk)",
        {},
    )
    if record is not None:
        _enqueue(delivery)
    return record
