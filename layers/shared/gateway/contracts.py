"""Request and response contracts (pydantic). /v1 routes use kebab-case, /v2 routes the V2 seed's camelCase.

These are wire formats only; stored items live in gateway.repo.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway.validation import (
    LONE_SURROGATE,
    UNSTORABLE_NUMBER,
    Email,
    JsonRefused,
    OptionalEmail,
    OptionalUrl,
    PersonName,
    ShortText,
    loads_json,
    storable_numbers,
)


class Role(StrEnum):
    ADMIN = "admin"
    SUPPORT = "support"
    INTEGRATION = "integration"


class ErrorEnvelope(BaseModel):
    statuscode: str = Field(examples=["400.1"], description="<http status>.<n>")
    description: str = Field(examples=["emailId: must be a valid e-mail address"])


class Kebab(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_max_length=4096)


# ---------------------------------------------------------------------------------------------- V2
def _source(value: object) -> object:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "api"
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,39}", value.strip().lower()):
        raise ValueError("must be api, dashboard, import or a name of 1-40 characters a-z 0-9 . _ -")
    return value.strip().lower()


RegistrationSource = Annotated[str, BeforeValidator(_source)]


class RegisterRequest(BaseModel):
    """Body of POST /v2/tests/{testId}/register (the V2 seed)."""

    model_config = ConfigDict(extra="ignore")

    emailId: Email = Field(description="E-mail address of the candidate.", examples=["amit@example.com"])
    fullName: PersonName = Field(description="Full name of the candidate.", examples=["Amit Mishra"])
    callbackURL: OptionalUrl = Field(
        default=None, description="After completion of the test the callback object is sent here."
    )
    redirectURL: OptionalUrl = Field(
        default=None, description="After completion of the test the candidate is redirected here."
    )
    sendEmail: bool = Field(
        default=False,
        description="Also e-mail the candidate the invitation with the take-test URL (once per invitation).",
    )
    source: RegistrationSource = Field(
        default="api",
        description="Where the registration comes from (an addition to the V2 seed, optional): api (the "
        "default), dashboard, import, or a name of the caller's (1-40 of a-z 0-9 . _ -). Stored on the "
        "candidate (when new) and the invitation; GET /v1/candidates filters on it.",
    )


class RegisterResult(BaseModel):
    testInvitationId: int
    takeTestURL: str


T = TypeVar("T")


class V2Envelope(BaseModel, Generic[T]):
    statuscode: str = "200.1"
    description: str = "The request has succeeded."
    result: T


class InvitationView(BaseModel):
    testInvitationId: int
    testId: int
    emailId: str
    fullName: str
    status: str
    takeTestURL: str
    callbackURL: str | None = None
    redirectURL: str | None = None
    orgUnit: str
    candidateId: str
    createdAt: str
    updatedAt: str
    emailBounced: bool = Field(
        default=False,
        description="An e-mail to the candidate bounced (or was marked as spam): the address is suppressed.",
    )
    callbackDisabled: bool = Field(
        default=False,
        description="The callbackURL answered 410 Gone: nothing more is sent to it. Registering the "
        "candidate again with another callbackURL enables the callback.",
    )
    callbackDisabledAt: str | None = Field(
        default=None, description="When the callbackURL answered 410 Gone."
    )


# ---------------------------------------------------------------------------------------------- V1
class CreateOrgUnit(Kebab):
    name: ShortText = Field(description="Name of the unit, unique among its siblings.")
    parent_id: str | None = Field(
        default=None, alias="parent-id", max_length=64, description="Parent unit; default: the caller's unit."
    )


class OrgUnitView(Kebab):
    id: str
    name: str
    parent_id: str | None = Field(alias="parent-id")
    path: str = Field(description="Ids from the root down to this unit, '/'-separated.")
    created_at: str = Field(alias="created-at")


class OrgUnitPage(Kebab):
    items: list[OrgUnitView]
    next_cursor: str | None = Field(alias="next-cursor")


class CreateApiKey(Kebab):
    org_unit: str = Field(alias="org-unit", min_length=1, max_length=64)
    role: Role
    name: ShortText | None = Field(default=None, description="A label to recognise the key by.")
    signed_only: bool = Field(default=False, alias="signed-only", description="Refuse unsigned requests.")


class ApiKeyView(Kebab):
    key_id: str = Field(alias="key-id")
    org_unit: str = Field(alias="org-unit")
    role: Role
    name: str | None = None
    created_at: str = Field(alias="created-at")
    revoked_at: str | None = Field(default=None, alias="revoked-at")
    signed_only: bool = Field(default=False, alias="signed-only")


class CreatedApiKey(ApiKeyView):
    api_key: str = Field(alias="api-key", description="Shown once; only a hash is stored.")
    signing_secret: str = Field(
        alias="signing-secret",
        description="Shown once: signs requests (x-timestamp, x-signature); never stored.",
    )
    webhook_secret: str = Field(
        alias="webhook-secret",
        description="Verifies the V2 callbacks of this key's registrations (whsec_...).",
    )


class ApiKeyPage(Kebab):
    items: list[ApiKeyView]
    next_cursor: str | None = Field(alias="next-cursor")


class Health(BaseModel):
    status: str = "ok"
    details: dict[str, Any] = Field(default_factory=dict)


# ------------------------------------------------------------------------------------ provisioning
def _json_object(value: Any) -> Any:
    """`assigned-to` / `registration`: a JSON object, or a string holding one (the seed says JSON string)."""
    if isinstance(value, str):
        try:
            value = loads_json(value)
        except JsonRefused as exc:
            if exc.reason == LONE_SURROGATE:
                raise ValueError(exc.reason) from exc
            raise ValueError("must be a JSON object") from exc
    if value is not None and not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    if value is not None and not _finite(value):
        raise ValueError("must not hold NaN or Infinity (not JSON numbers)")
    if value is not None and not storable_numbers(value):
        raise ValueError(UNSTORABLE_NUMBER)
    return value


def _finite(value: Any) -> bool:
    """No NaN / Infinity anywhere (Python's json accepts them; DynamoDB cannot store them)."""
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


JsonObject = Annotated[dict[str, Any] | None, BeforeValidator(_json_object)]


class FulfilmentRequest(Kebab):
    """Body of POST /v1/fulfillments (the iTEP seed). Unknown top-level fields are ignored."""

    product_code: str = Field(
        alias="product-code", min_length=1, max_length=80, examples=["GTX-Academic-Plus"]
    )
    email: OptionalEmail = Field(
        default=None, description="Candidate e-mail; required for STX product codes."
    )
    bcc: OptionalEmail = Field(default=None, description="STX: a copy of the e-mail goes here.")
    track: str | None = Field(default=None, max_length=64, description="Tracking code (POST /v1/tracks).")
    assigned_to: JsonObject = Field(default=None, alias="assigned-to", description="Stored on the test ID.")
    registration: JsonObject = Field(default=None, description="Registration fields, the seed's list.")


class FulfilmentReply(Kebab):
    test_id: str = Field(alias="test-id")
    password: str
    product_code: str = Field(alias="product-code")
    test_type: str = Field(alias="test-type")
    status: str
    assigned_to: dict[str, Any] = Field(alias="assigned-to")
    registration: dict[str, Any]
    track: str | None
    email_sent: bool = Field(alias="email-sent")


class NewTestId(Kebab):
    test_id: str = Field(alias="test-id")
    password: str
    test_type: str = Field(alias="test-type")


class AddTestIds(Kebab):
    org_unit: str | None = Field(default=None, alias="org-unit", max_length=64)
    test_ids: list[dict[str, Any]] = Field(alias="test-ids", min_length=1, max_length=500)


class Refused(Kebab):
    index: int
    test_id: str | None = Field(alias="test-id")
    reason: str


class AddedTestIds(Kebab):
    org_unit: str = Field(alias="org-unit")
    added: int
    refused: int
    refusals: list[Refused]


class HistoryEntry(Kebab):
    at: str
    event: str
    by: str | None = None
    detail: dict[str, Any] | None = None


class TestIdView(Kebab):
    test_id: str = Field(alias="test-id")
    password: str
    test_type: str = Field(alias="test-type")
    status: str
    available: bool
    assigned_to: dict[str, Any] = Field(alias="assigned-to")
    registration: dict[str, Any] = Field(default_factory=dict)
    track: str | None = None
    product_code: str | None = Field(default=None, alias="product-code")
    org_unit: str = Field(alias="org-unit")
    created_at: str = Field(alias="created-at")
    updated_at: str = Field(alias="updated-at")
    history: list[HistoryEntry] = Field(default_factory=list)


class TestIdPage(Kebab):
    items: list[TestIdView]
    next_cursor: str | None = Field(alias="next-cursor")


class InventoryCount(Kebab):
    test_type: str = Field(alias="test-type")
    status: str
    total: int
    assigned: int
    available: int


class StockLevel(Kebab):
    test_type: str = Field(alias="test-type")
    available: int
    used_last_30_days: int = Field(
        alias="used-last-30-days", description="Handed out by fulfilment in the last 30 days, not given back."
    )
    burn_rate_per_day: float = Field(alias="burn-rate-per-day")
    days_of_stock_left: float | None = Field(
        alias="days-of-stock-left", description="available / burn rate; null when nothing was used."
    )


class InventoryReport(Kebab):
    org_unit: str = Field(alias="org-unit")
    counts: list[InventoryCount]
    total: int
    available: int
    stock: list[StockLevel] = Field(
        default_factory=list,
        description="Per test type: burn rate of the last 30 days and days of stock left.",
    )


class Allocation(Kebab):
    org_unit: str = Field(alias="org-unit", min_length=1, max_length=64)
    test_type: str = Field(alias="test-type", min_length=1, max_length=63)
    count: int = Field(ge=1, le=1000)


class AllocationResult(Kebab):
    org_unit: str = Field(alias="org-unit")
    test_type: str = Field(alias="test-type")
    requested: int
    moved: int
    test_ids: list[str] = Field(alias="test-ids")


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


# ----------------------------------------------------------------------------------------- privacy
class CandidateExport(Kebab):
    """Everything the service holds about one candidate (GET /v1/candidates/{id}/export)."""

    id: str
    exported_at: str = Field(alias="exported-at")
    profile: dict[str, Any] = Field(description="The candidate: e-mail, full name, unit, dates.")
    invitations: list[dict[str, Any]] = Field(description="V2 invitations, each with its result versions.")
    test_ids: list[dict[str, Any]] = Field(
        alias="test-ids",
        description="Test IDs naming the candidate (assigned-to, registration, history, result versions).",
    )
    deliveries: list[dict[str, Any]] = Field(description="Callbacks sent about the candidate, with the body.")
    emails: list[dict[str, Any]] = Field(
        default_factory=list, description="E-mails sent to the candidate's address (mail history, status)."
    )
    suppressions: list[dict[str, Any]] = Field(
        default_factory=list, description="Units that no longer mail the address (bounce or complaint)."
    )
    outcomes: list[dict[str, Any]] = Field(
        default_factory=list, description="Certification and placement outcomes of their tests."
    )
    ct_status: list[dict[str, Any]] = Field(
        default_factory=list, alias="ct-status", description="Their CT status per level."
    )
    certificates: list[dict[str, Any]] = Field(
        default_factory=list, description="Certificates issued to them: code, status, test type, level."
    )
    transfers: list[dict[str, Any]] = Field(
        default_factory=list, description="Transfers between organisation units (from, to, when, by)."
    )


class CandidateErased(Kebab):
    """What DELETE /v1/candidates/{id} erased (counts only)."""

    id: str
    erased: bool = True
    invitations: int
    test_ids: int = Field(alias="test-ids")
    results: int = Field(description="Result versions anonymised (their figures stay, without identity).")
    deliveries: int
    idempotency_records: int = Field(alias="idempotency-records")
    objects: int = Field(description="Uploads deleted / reports re-written in the imports bucket.")
    emails: int = Field(default=0, description="Mail records (e-mail history) deleted.")
    suppressions: int = Field(
        default=0, description="Suppressions of their address kept as a keyed hash only (still blocking)."
    )
    outcomes: int = Field(
        default=0, description="Outcomes replaced by anonymous copies (the institutional reports count them)."
    )
    ct_statuses: int = Field(default=0, alias="ct-statuses", description="CT status items deleted.")
    certificates: int = Field(
        default=0, description="Certificates erased: the code verifies as `erased`, the PDF is deleted."
    )
