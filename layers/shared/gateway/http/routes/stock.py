"""Low-stock thresholds per unit and test type (served by the provisioning API)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from gateway import stock
from gateway.auth import current_caller
from gateway.contracts import Role
from gateway.http.app import requires
from gateway.http.routes.common import documented
from gateway.inventory_contracts import ThresholdPage, ThresholdRequest, ThresholdView

router = Router()  # type: ignore[no-untyped-call]


@router.put(
    "/v1/inventory/thresholds",
    summary="Set (or remove, with 0) the low-stock threshold of a test type in a unit",
    description="When the unit's available test IDs of that type fall below `threshold`, one e-mail goes "
    "to each of the unit's admins (`admin-emails` of its notification settings, own or inherited) and each "
    "address of `notify`, and one `inventory.low` event is published; the warning re-arms once the stock is "
    "back at or above the threshold. Setting a threshold above the current stock warns at once.",
    tags=["Inventory"],
    responses=documented(200, "The threshold and its state."),
)
@requires(Role.ADMIN)
def set_threshold(request: Annotated[ThresholdRequest, Body()]) -> ThresholdView:
    return stock.set_threshold(current_caller(), request)


@router.get(
    "/v1/inventory/thresholds",
    summary="Low-stock thresholds of the caller's subtree",
    tags=["Inventory"],
    responses=documented(200, "Thresholds."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def list_thresholds() -> ThresholdPage:
    return stock.list_thresholds(current_caller())
