"""Request and response contracts of fulfilment and the test-ID inventory (kebab-case, /v1).

Wire formats only; stored items live in gateway.repo.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from gateway.contracts import Kebab
from gateway.validation import (
    LONE_SURROGATE,
    UNSTORABLE_NUMBER,
    JsonRefused,
    OptionalEmail,
    loads_json,
    storable_numbers,
)


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
