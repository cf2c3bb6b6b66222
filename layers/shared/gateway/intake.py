"""Taking a result in: check it against the subject's life cycle, store it, announce it.

Each accepted message is one transaction (subject state + result version) and then one event on the
events queue with a deterministic id. If publishing fails the engine gets a 503 and retries; the retry is
recognised as a duplicate, changes nothing, and publishes the same event again, so no result is dropped
and consumers de-duplicate on the id.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway import certification, events
from gateway.config import get_settings
from gateway.errors import InvalidInput, Unavailable
from gateway.repo import candidates, now_iso
from gateway.repo import results as repo
from gateway.results import STATES, Result, allowed

# What each applied state announces (the track event names of the iTEP seed and issue 5). Ready announces
# nothing: no message moves a test to Ready (gateway.results.TRANSITIONS).
EVENT_OF = {"Started": "started", "Finished": "finished", "Review": "review",
            "Technical Difficulty": "technical-difficulty", "Completed": "completed",
            "Invalidated": "invalidated", "Disabled": "disabled"}  # fmt: skip


class IntakeReply(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    subject: str = Field(description="The test ID or the invitation id.")
    status: str = Field(description="The test's state after this message.")
    applied: bool = Field(description="False for a duplicate or a stale (out-of-order) message.")
    reason: str | None = Field(
        default=None,
        description="duplicate (the same message again) | stale (refused by the life cycle: out of order, "
        "or after a final state)",
    )
    detail: str | None = Field(default=None, description="For a stale message: the rule that refused it.")
    version: int = Field(description="Number of stored result versions (0: no scores yet).")
    event_id: str | None = Field(default=None, alias="event-id")


def result_expiration(retention_days: int, now: float | None = None) -> int | None:
    """The TTL (`expiration`, unix seconds) of a result version stored now; None keeps it for ever."""
    if retention_days <= 0:
        return None
    return int(time.time() if now is None else now) + retention_days * 86400


def _current_status(subject: dict[str, Any]) -> str:
    status = str(subject.get("status", "Ready"))
    return status if status in STATES else "Ready"  # an invitation starts as "Registered"


def _event_data(result: Result, subject: dict[str, Any], version: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": result.kind,
        "subject": result.subject,
        "status": result.status,
        "version": version,
        "result": result.fields,
        "raw": result.raw,
    }
    if result.kind == "itep":
        data["track"] = subject.get("track")
        data["external-id"] = (subject.get("registration") or {}).get("trExternal_ID")
        data["test-type"] = subject.get("test_type")
    else:
        data["callback-url"] = subject.get("callback_url")
        data["email"] = subject.get("email")
        data["key-id"] = subject.get("registered_by")
    return data


def _publish(result: Result, subject: dict[str, Any], version: int, digest: str) -> str | None:
    kind = EVENT_OF.get(result.status)
    if kind is None:
        return None
    event_id = f"result:{result.kind}:{result.subject}:{digest}"
    events.publish(
        event_id, kind, subject["unit_id"], subject["unit_path"], _event_data(result, subject, version)
    )
    return event_id


def _actual_minutes(result: Result, subject: dict[str, Any], now: str) -> float | None:
    """The time actually taken (v1.3): as the engine says, else from Started to now in the life cycle."""
    from datetime import datetime

    sent = result.actual_minutes
    if sent is not None:
        return sent
    started = [e["at"] for e in subject.get("history", []) if e.get("event") == "status:Started"]
    if not started:
        return None
    begin = datetime.fromisoformat(started[-1].replace("Z", "+00:00"))
    end = datetime.fromisoformat(now.replace("Z", "+00:00"))
    return round((end - begin).total_seconds() / 60, 2)


def take(result: Result, attempts: int = 3, base_url: str = "") -> IntakeReply:
    for _ in range(attempts):
        subject = repo.get_subject(result.kind, result.subject)
        if subject is None:
            field = "TestID" if result.kind == "itep" else "TestInvitationId"
            raise InvalidInput(
                field, f"unknown {'test ID' if result.kind == 'itep' else 'invitation'} '{result.subject}'"
            )
        current = _current_status(subject)
        version = int(subject.get("result_version", 0))
        digest = result.digest
        if digest in subject.get("seen_digests", set()):
            # A message seen before: nothing changes. If it is the latest one, announce it again in case
            # the first announcement was lost (consumers de-duplicate on the event id).
            event_id = None
            if subject.get("result_digest") == digest:
                event_id = _publish(result, subject, version, digest)
                certification.repeat_follow_up(result, subject)
            return IntakeReply(
                subject=result.subject,
                status=current,
                applied=False,
                reason="duplicate",
                version=version,
                event_id=event_id,
            )
        verdict = allowed(current, result.status)
        if verdict is not True:
            # Refused by the life cycle (gateway.results): a 200 that changes nothing, so the engine does
            # not retry it for ever. Nothing is stored, so the same message again is refused again.
            return IntakeReply(
                subject=result.subject,
                status=current,
                applied=False,
                reason="stale",
                detail=verdict,
                version=version,
            )
        new_version = version + 1 if result.stores_version else version
        now = now_iso()
        change = {
            "status": result.status,
            "status_rank": result.rank,
            "result_digest": digest,
            "result_version": new_version,
            "updated_at": now,
        }
        entry = {"at": now, "event": f"status:{result.status}", "by": "engine"}
        version_item = None
        prepared = None
        if result.stores_version:
            version_item = {
                "pk": f"RES#{result.kind}#{result.subject}",
                "sk": f"V#{new_version:05d}",
                "entity": "result",
                "version": new_version,
                "status": result.status,
                "received_at": now,
                "unit_id": subject["unit_id"],
                "unit_path": subject["unit_path"],
                "result": result.fields,
                "raw": result.raw,
                "incomplete": result.incomplete,
                "totals": result.totals,
                "actual_minutes": _actual_minutes(result, subject, now),
            }
            expiration = result_expiration(get_settings().result_retention_days)
            if expiration is not None:
                version_item["expiration"] = expiration
            if result.status == "Completed":
                prepared = certification.prepare(
                    result, subject, new_version, now, certification.base_url(base_url)
                )
        try:
            repo.apply(
                result.kind,
                result.subject,
                subject.get("result_digest"),
                change,
                entry,
                version_item,
                candidates.summary_update(subject, result.status, result.fields, now)
                + (prepared.items if prepared else []),
            )
        except repo.Concurrent:
            continue  # another message for this test won the race: look again
        event_id = _publish(result, subject, new_version, digest)
        if prepared:
            certification.follow_up(prepared.record)
        return IntakeReply(
            subject=result.subject, status=result.status, applied=True, version=new_version, event_id=event_id
        )
    raise Unavailable("Status: the test is being updated concurrently; retry")
