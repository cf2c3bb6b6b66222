"""Notification routes: per-unit settings (inherited from the parent unit), previews, suppressed addresses."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from gateway import notify_admin
from gateway.auth import current_caller
from gateway.contracts import Role
from gateway.http.app import requires
from gateway.http.routes.common import documented
from gateway.notify_contracts import (
    EmailPage,
    PreviewView,
    SettingsRequest,
    SettingsView,
    SuppressionPage,
    SuppressionView,
)

router = Router()  # type: ignore[no-untyped-call]
UnitQuery = Annotated[
    str | None,
    Query(alias="org-unit", max_length=64, description="A unit of the caller's subtree; default: own."),
]


@router.get(
    "/v1/notifications/settings",
    summary="A unit's e-mail settings: its own, the effective ones, and where each comes from",
    tags=["Notifications"],
    responses=documented(200, "Settings."),
)
@requires(Role.ADMIN, body=None)
def get_settings(org_unit: UnitQuery = None) -> SettingsView:
    return notify_admin.get_settings(current_caller(), org_unit)


@router.put(
    "/v1/notifications/settings",
    summary="Change a unit's e-mail settings (null: inherit from the parent unit again)",
    description="`notify-clients` switches candidate e-mail off altogether (eTest's flag); `events` per "
    "e-mail. `sender` must be a verified SES identity. Fields left out stay as they are.",
    tags=["Notifications"],
    responses=documented(200, "Settings after the change."),
)
@requires(Role.ADMIN)
def put_settings(request: Annotated[SettingsRequest, Body()]) -> SettingsView:
    return notify_admin.put_settings(current_caller(), request)


@router.get(
    "/v1/notifications/preview/<event>",
    summary="Render an e-mail (subject, text, HTML) with the unit's name and sample or given data",
    description="`event`: invitation, test-id, test-completed, test-completed-admin, certification-failed, "
    "assignment-expired, low-stock.",
    tags=["Notifications"],
    responses=documented(200, "The rendered e-mail."),
)
@requires(Role.ADMIN, body=None)
def preview(
    event: Annotated[str, Path(max_length=64)],
    org_unit: UnitQuery = None,
    full_name: Annotated[str | None, Query(alias="full-name", max_length=200)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    language: Annotated[str | None, Query(max_length=8)] = None,
) -> PreviewView:
    return notify_admin.preview(current_caller(), event, org_unit, full_name, email, language)


@router.get(
    "/v1/notifications/emails",
    summary="E-mails the unit sent (or held back) to an address, newest first",
    description="One item per e-mail: which, for which event, its status (sent, suppressed, rejected, "
    "sending) and SES's feedback (bounce, complaint).",
    tags=["Notifications"],
    responses=documented(200, "A page."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def email_history(
    email: Annotated[str, Query(min_length=3, max_length=254)],
    org_unit: UnitQuery = None,
    limit: Annotated[int, Query(ge=1, le=notify_admin.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> EmailPage:
    return notify_admin.email_history(current_caller(), org_unit, email, limit, cursor)


@router.get(
    "/v1/notifications/suppressions",
    summary="Addresses the unit no longer mails (bounced or complained)",
    tags=["Notifications"],
    responses=documented(200, "A page."),
)
@requires(Role.ADMIN, body=None)
def list_suppressions(
    org_unit: UnitQuery = None,
    limit: Annotated[int, Query(ge=1, le=notify_admin.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> SuppressionPage:
    return notify_admin.list_suppressions(current_caller(), org_unit, limit, cursor)


@router.delete(
    "/v1/notifications/suppressions",
    summary="Mail an address again (after the candidate fixed their mailbox)",
    tags=["Notifications"],
    responses=documented(200, "The suppression lifted."),
)
@requires(Role.ADMIN, body=None)
def lift_suppression(
    email: Annotated[str, Query(min_length=3, max_length=254)], org_unit: UnitQuery = None
) -> SuppressionView:
    return notify_admin.lift_suppression(current_caller(), org_unit, email)
