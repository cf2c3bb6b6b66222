"""Admin routes: organisation units and API keys (kebab-case, like the iTEP seed)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from gateway import deliveries, deliveries_admin, orgs, signing, tracks
from gateway.admin_contracts import (
    ApiKeyPage,
    ApiKeyView,
    CreateApiKey,
    CreatedApiKey,
    CreateOrgUnit,
    OrgUnitPage,
    OrgUnitView,
)
from gateway.auth import current_caller
from gateway.contracts import Role
from gateway.delivery_contracts import (
    CreatedTrack,
    DeliveryPage,
    DeliveryView,
    PingResult,
    ReplayRange,
    ReplayResult,
    TrackPage,
    TrackRequest,
)
from gateway.http.app import requires
from gateway.http.routes.common import documented
from gateway.repo.directory import ApiKeyRecord, OrgUnit

router = Router()  # type: ignore[no-untyped-call]
Limit = Annotated[int, Query(ge=1, le=orgs.MAX_PAGE, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=2048, description="next-cursor of the previous page.")]


def _unit_view(unit: OrgUnit) -> OrgUnitView:
    return OrgUnitView(
        id=unit.id, name=unit.name, parent_id=unit.parent_id, path=unit.path, created_at=unit.created_at
    )


def _key_view(key: ApiKeyRecord) -> ApiKeyView:
    return ApiKeyView(
        key_id=key.key_id,
        org_unit=key.unit_id,
        role=Role(key.role),
        name=key.name,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        signed_only=key.signed_only,
    )


@router.post(
    "/v1/org-units",
    summary="Create a child organisation unit",
    tags=["Organisation"],
    responses=documented(201, "Created."),
)
@requires(Role.ADMIN)
def create_org_unit(request: Annotated[CreateOrgUnit, Body()]) -> tuple[OrgUnitView, int]:
    unit = orgs.create_unit(current_caller(), request.name, request.parent_id)
    return _unit_view(unit), 201


@router.get(
    "/v1/org-units",
    summary="List the caller's unit and every unit below it",
    tags=["Organisation"],
    responses=documented(200, "OK"),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def list_org_units(limit: Limit = 50, cursor: Cursor = None) -> OrgUnitPage:
    units, next_cursor = orgs.list_units(current_caller(), limit, cursor)
    return OrgUnitPage(items=[_unit_view(u) for u in units], next_cursor=next_cursor)


@router.post(
    "/v1/api-keys",
    summary="Create an API key for a unit in the caller's subtree",
    tags=["API keys"],
    responses=documented(201, "Created; api-key is shown only in this reply."),
)
@requires(Role.ADMIN)
def create_api_key(request: Annotated[CreateApiKey, Body()]) -> tuple[CreatedApiKey, int]:
    record, api_key = orgs.create_key(
        current_caller(), request.org_unit, request.role, request.name, request.signed_only
    )
    view = _key_view(record)
    secret = signing.signing_secret(record.key_id)
    webhook_secret = deliveries.callback_secret(record.key_id)
    return CreatedApiKey(
        **view.model_dump(), api_key=api_key, signing_secret=secret, webhook_secret=webhook_secret
    ), 201


@router.get(
    "/v1/api-keys",
    summary="List the API keys of the caller's subtree (never their secrets)",
    tags=["API keys"],
    responses=documented(200, "OK"),
)
@requires(Role.ADMIN, body=None)
def list_api_keys(limit: Limit = 50, cursor: Cursor = None) -> ApiKeyPage:
    keys, next_cursor = orgs.list_keys(current_caller(), limit, cursor)
    return ApiKeyPage(items=[_key_view(k) for k in keys], next_cursor=next_cursor)


@router.delete(
    "/v1/api-keys/<keyId>",
    summary="Revoke an API key",
    tags=["API keys"],
    description="Takes effect at once on this key's next lookup; a warm instance that cached the key "
    "may accept it for up to 60 seconds more.",
    responses=documented(200, "OK"),
)
@requires(Role.ADMIN, body=None)
def revoke_api_key(keyId: Annotated[str, Path(max_length=64)]) -> ApiKeyView:
    return _key_view(orgs.revoke_key(current_caller(), keyId))


@router.post(
    "/v1/tracks",
    summary="Create or update a track (an endpoint results are reported to)",
    description="Returns the track's Standard Webhooks signing secret (whsec_...).",
    tags=["Tracks"],
    responses=documented(200, "Saved."),
)
@requires(Role.ADMIN)
def save_track(request: Annotated[TrackRequest, Body()]) -> CreatedTrack:
    return tracks.save(current_caller(), request)


@router.get(
    "/v1/tracks", summary="Tracks of the caller's subtree", tags=["Tracks"], responses=documented(200, "OK")
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def list_tracks() -> TrackPage:
    return TrackPage(items=tracks.listing(current_caller()))


@router.post(
    "/v1/tracks/<code>/ping",
    summary="Send a signed test event to a track and report the reply",
    tags=["Tracks"],
    responses=documented(200, "The endpoint's reply."),
)
@requires(Role.ADMIN, body=None)
def ping_track(code: Annotated[str, Path(max_length=64)]) -> PingResult:
    return deliveries_admin.ping(current_caller(), code)


@router.get(
    "/v1/deliveries",
    summary="Deliveries of the caller's subtree, newest first, with their status",
    description="Filters: status (pending, succeeded, dead, disabled, skipped; another is a 400), endpoint "
    "(track:<code> or callback:<invitation>), event (type), from / to (ISO times). A page may hold fewer "
    "than limit items when filters apply; follow next-cursor.",
    tags=["Deliveries"],
    responses=documented(200, "A page."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def list_deliveries(
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    endpoint: Annotated[str | None, Query(max_length=100)] = None,
    event: Annotated[str | None, Query(max_length=60)] = None,
    since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> DeliveryPage:
    filters = {"status": status or "", "endpoint": endpoint or "", "event_type": event or ""}
    return deliveries_admin.page(current_caller(), since, until, filters, limit, cursor)


@router.get(
    "/v1/deliveries/<deliveryId>",
    summary="One delivery with every attempt (status, latency, error)",
    tags=["Deliveries"],
    responses=documented(200, "The delivery."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def get_delivery(deliveryId: Annotated[str, Path(max_length=64)]) -> DeliveryView:
    return deliveries_admin.get(current_caller(), deliveryId)


@router.post(
    "/v1/deliveries/replay",
    summary="Send again every delivery created in a time range, a page per call",
    description="Replays up to limit deliveries (newest first) and returns next-cursor while more of the "
    "range is left: call again with the same body and that cursor until it is null. A 4xx replays nothing.",
    tags=["Deliveries"],
    responses=documented(200, "What was queued again."),
)
@requires(Role.ADMIN)
def replay_deliveries(request: Annotated[ReplayRange, Body()]) -> ReplayResult:
    filters = {
        "status": request.status or "",
        "endpoint": request.endpoint or "",
        "event_type": request.event or "",
    }
    return deliveries_admin.replay_range(
        current_caller(), request.since, request.until, filters, request.limit, request.cursor
    )


@router.post(
    "/v1/deliveries/<deliveryId>/replay",
    summary="Send one delivery again",
    tags=["Deliveries"],
    responses=documented(200, "Queued again."),
)
@requires(Role.ADMIN, body=None)
def replay_delivery(deliveryId: Annotated[str, Path(max_length=64)]) -> DeliveryView:
    return deliveries_admin.replay_one(current_caller(), deliveryId)
