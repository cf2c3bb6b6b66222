"""Provisioning routes: iTEP-style fulfilment and the test-ID inventory (kebab-case, like the iTEP seed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from gateway import fulfilment, idempotency, inventory
from gateway.auth import current_caller
from gateway.contracts import Role
from gateway.errors import Conflict
from gateway.http.app import requires
from gateway.http.routes.common import documented
from gateway.provisioning_contracts import (
    AddedTestIds,
    AddTestIds,
    Allocation,
    AllocationResult,
    FulfilmentReply,
    FulfilmentRequest,
    InventoryReport,
    TestIdPage,
    TestIdView,
)

router = Router()  # type: ignore[no-untyped-call]
metrics = Metrics()
TestIdParam = Annotated[str, Path(max_length=64, description="The test ID.")]


@router.post(
    "/v1/fulfillments",
    summary="Obtain a test ID (GTX) or obtain and e-mail it (STX)",
    description="The iTEP seed's fulfilment call. Send an `Idempotency-Key` header to make retries safe: "
    "a retry gets the first reply and sends no second e-mail; the same key with another body is a 422.",
    tags=["Provisioning"],
    responses=documented(201, "Assigned (and e-mailed for STX)."),
)
@requires(Role.ADMIN, Role.INTEGRATION)
def fulfil(
    request: Annotated[FulfilmentRequest, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> tuple[FulfilmentReply, int]:
    caller = current_caller()
    key = idempotency.check_key(idempotency_key)
    try:
        if key is None:
            reply = fulfilment.fulfil(caller, request)
        else:
            payload = request.model_dump(mode="json", by_alias=True)
            reply = idempotency.once(
                caller.key_id, key, payload, FulfilmentReply, lambda: fulfilment.fulfil(caller, request)
            )
    except Conflict as exc:
        if exc.description.startswith("product-code: no test ID available"):
            metrics.add_metric(name="FulfilmentExhausted", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="Fulfilments", unit=MetricUnit.Count, value=1)
    return reply, 201


@router.get(
    "/v1/inventory",
    summary="Counts per test type and status for the caller's subtree",
    tags=["Inventory"],
    responses=documented(200, "Counts."),
)
@requires(Role.ADMIN, Role.INTEGRATION, body=None)
def report() -> InventoryReport:
    return inventory.report(current_caller())


@router.get(
    "/v1/test-ids",
    summary="Test IDs of the caller's subtree, filtered, a page at a time",
    description="A page may hold fewer than `limit` items when filters apply; follow `next-cursor` "
    "until it is null.",
    tags=["Inventory"],
    responses=documented(200, "A page."),
)
@requires(Role.ADMIN, Role.INTEGRATION, body=None)
def list_test_ids(
    limit: Annotated[int, Query(ge=1, le=inventory.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[str | None, Query(max_length=32, description="One of the eight states.")] = None,
    test_type: Annotated[str | None, Query(alias="test-type", max_length=63)] = None,
    available: Annotated[Literal["true", "false"] | None, Query()] = None,
    email: Annotated[str | None, Query(max_length=254, description="Assigned to this e-mail.")] = None,
) -> TestIdPage:
    filters: dict[str, Any] = {
        "status": status,
        "test_type": test_type,
        "email": email,
        "available": None if available is None else available == "true",
    }
    return inventory.page(current_caller(), limit, cursor, filters)


@router.post(
    "/v1/test-ids",
    summary="Add test IDs to a unit's inventory",
    tags=["Inventory"],
    responses=documented(201, "Counts of added and refused, with reasons."),
)
@requires(Role.ADMIN)
def add_test_ids(request: Annotated[AddTestIds, Body()]) -> tuple[AddedTestIds, int]:
    return inventory.add(current_caller(), request.org_unit, request.test_ids), 201


@router.post(
    "/v1/test-ids/allocations",
    summary="Move available test IDs of a type to a unit below",
    tags=["Inventory"],
    responses=documented(200, "What moved."),
)
@requires(Role.ADMIN)
def allocate(request: Annotated[Allocation, Body()]) -> AllocationResult:
    return inventory.allocate(current_caller(), request.org_unit, request.test_type, request.count)


@router.get(
    "/v1/test-ids/<testId>",
    summary="One test ID with its history",
    tags=["Inventory"],
    responses=documented(200, "The test ID."),
)
@requires(Role.ADMIN, Role.INTEGRATION, body=None)
def get_test_id(testId: TestIdParam) -> TestIdView:
    return inventory.get(current_caller(), testId)


@router.post(
    "/v1/test-ids/<testId>/release",
    summary="Make an assigned, unstarted test ID available again",
    description="Clears assigned-to and gives the test a new password.",
    tags=["Inventory"],
    responses=documented(200, "Released."),
)
@requires(Role.ADMIN, Role.INTEGRATION, body=None)
def release(testId: TestIdParam) -> TestIdView:
    return inventory.release(current_caller(), testId)
