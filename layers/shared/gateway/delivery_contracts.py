"""Request and response contracts of tracks and deliveries (kebab-case, /v1).

Wire formats only; stored items live in gateway.repo.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from gateway.contracts import Kebab


# ------------------------------------------------------------------------------------------ tracks
class TrackFormat(StrEnum):
    ITEP_FORM = "itep-form"
    JSON = "json"


class TrackEvent(StrEnum):
    FINISHED = "finished"
    COMPLETED = "completed"
    INVALIDATED = "invalidated"
    TECHNICAL_DIFFICULTY = "technical-difficulty"
    ASSIGNMENT_EXPIRED = "assignment.expired"
    INVENTORY_LOW = "inventory.low"
    INVITATION_EMAIL_BOUNCED = "invitation.email_bounced"


class TrackRequest(Kebab):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    url: str = Field(min_length=1, max_length=2048)
    format: TrackFormat = TrackFormat.ITEP_FORM
    events: list[TrackEvent] = Field(default_factory=lambda: [TrackEvent.COMPLETED], max_length=10)
    send_on_finish: bool = Field(default=False, alias="send-on-finish")


class TrackView(Kebab):
    code: str
    url: str
    format: TrackFormat
    events: list[TrackEvent]
    send_on_finish: bool = Field(alias="send-on-finish")
    org_unit: str = Field(alias="org-unit")
    created_at: str = Field(alias="created-at")
    updated_at: str = Field(alias="updated-at")


class CreatedTrack(TrackView):
    signing_secret: str = Field(alias="signing-secret", description="Standard Webhooks secret (whsec_...).")


class TrackPage(Kebab):
    items: list[TrackView]


# -------------------------------------------------------------------------------------- deliveries
class AttemptView(Kebab):
    attempt: int
    at: str
    status_code: int | None = Field(alias="status-code")
    latency_ms: int = Field(alias="latency-ms")
    error: str | None = None


class DeliveryView(Kebab):
    id: str = Field(description="Also the webhook-id header of every attempt.")
    event_id: str = Field(alias="event-id")
    event_type: str = Field(alias="event-type")
    endpoint: str = Field(description="track:<code> or callback:<invitation id>")
    url: str
    status: str = Field(
        description="pending | succeeded | dead | disabled (answered 410 Gone) | skipped (not sent: the "
        "endpoint was disabled)"
    )
    attempts: int
    last_status: int | None = Field(default=None, alias="last-status")
    last_error: str | None = Field(default=None, alias="last-error")
    org_unit: str = Field(alias="org-unit")
    created_at: str = Field(alias="created-at")
    updated_at: str = Field(alias="updated-at")
    attempt_log: list[AttemptView] | None = Field(
        default=None,
        alias="attempt-log",
        description="The attempts, oldest first: status code, latency, error. In a list page the latest "
        "20 (attempts counts them all); GET /v1/deliveries/{id} shows every one.",
    )


class DeliveryPage(Kebab):
    items: list[DeliveryView]
    next_cursor: str | None = Field(alias="next-cursor")


class ReplayRange(Kebab):
    since: str = Field(alias="from", min_length=10, max_length=40, description="ISO time, inclusive.")
    until: str = Field(alias="to", min_length=10, max_length=40, description="ISO time, inclusive.")
    status: str | None = Field(
        default=None,
        max_length=20,
        description="pending | succeeded | dead | disabled | skipped (another is a 400).",
    )
    endpoint: str | None = Field(default=None, max_length=100)
    event: str | None = Field(default=None, max_length=60, description="Event type.")
    limit: int = Field(default=100, ge=1, le=100, description="At most this many deliveries per call.")
    cursor: str | None = Field(
        default=None, max_length=2048, description="next-cursor of the previous call: go on from there."
    )


class ReplayResult(Kebab):
    replayed: int
    deliveries: list[str]
    next_cursor: str | None = Field(
        alias="next-cursor",
        description="More of the range is left: call again with the same body and this cursor; null: done.",
    )


class PingResult(Kebab):
    ok: bool
    status_code: int | None = Field(alias="status-code")
    latency_ms: int = Field(alias="latency-ms")
    error: str | None = None
