"""Catalogue, outcomes, certificates, institutional reports and the score report page (issue 8, and issue 6
section 3: the score report page and the CT log). Served by the certificates function."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import Field

from gateway import catalogue_models, certificates, outcome_reports
from gateway.auth import current_caller
from gateway.catalogue_models import CatalogueRequest, CatalogueView
from gateway.certificates import Verification
from gateway.contracts import Kebab, Role
from gateway.http.app import current_request, public, requires
from gateway.http.routes.common import ERRORS, documented

router = Router()  # type: ignore[no-untyped-call]
Unit = Annotated[
    str | None, Query(alias="org-unit", max_length=64, description="Default: the caller's unit.")
]
Since = Annotated[str | None, Query(alias="from", max_length=10, description="First day (YYYY-MM-DD).")]
Until = Annotated[str | None, Query(alias="to", max_length=10, description="Last day (YYYY-MM-DD).")]
Format = Annotated[Literal["json", "xlsx"], Query(description="json, or xlsx: a presigned link to the file.")]


class RevokeRequest(Kebab):
    reason: str | None = Field(default=None, max_length=500)


@router.get(
    "/v1/catalogue",
    summary="The test catalogue that applies to a unit (its own or the nearest ancestor's)",
    tags=["Catalogue"],
    responses=documented(200, "The catalogue."),
)
@requires(Role.ADMIN, body=None)
def get_catalogue(org_unit: Unit = None) -> CatalogueView:
    return catalogue_models.view(current_caller(), org_unit)


@router.put(
    "/v1/catalogue",
    summary="Set a unit's test catalogue (replaces what it inherited, for it and the units below)",
    description="Test types (`kind` placement or certification; a certification test needs `level` and "
    "`pass-mark`, percent) and the plans they belong to, each with its question flow (a plan file's JSON). "
    "Once a catalogue applies, fulfilment (GTX-/STX-<test type>) and V2 registration (testId = a test "
    "type's `test-id`) accept only the test types it lists.",
    tags=["Catalogue"],
    responses=documented(200, "Saved."),
)
@requires(Role.ADMIN)
def put_catalogue(request: Annotated[CatalogueRequest, Body()]) -> CatalogueView:
    return catalogue_models.save(current_caller(), request)


@router.get(
    "/v1/outcomes",
    summary="A candidate's outcomes (placement and certification), CT status per level, certificates",
    tags=["Certification"],
    responses=documented(200, "The candidate's outcomes taken in the caller's subtree."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def candidate_outcomes(
    candidate_id: Annotated[str, Query(alias="candidate-id", min_length=1, max_length=80)],
) -> dict[str, Any]:
    return outcome_reports.history(current_caller(), candidate_id, current_request.get().base_url)


@router.get(
    "/certificates/<code>",
    summary="Verify a certificate (public, no API key): valid, revoked or unknown",
    description="Shows what the certificate itself shows (name, unit, test type, level, CEFR, date), "
    "nothing more.",
    tags=["Certification"],
    responses=documented(200, "The verification."),
    security=[],
)
@public
def verify_certificate(code: Annotated[str, Path(max_length=64)]) -> Verification:
    return certificates.verify(code)


@router.post(
    "/v1/certificates/<code>/revoke",
    summary="Revoke a certificate (verification says revoked from then on)",
    tags=["Certification"],
    responses=documented(200, "The certificate's verification after revocation."),
)
@requires(Role.ADMIN)
def revoke_certificate(
    code: Annotated[str, Path(max_length=64)], request: Annotated[RevokeRequest | None, Body()] = None
) -> Verification:
    return certificates.revoke(current_caller(), code, request.reason if request else None)


@router.get(
    "/v1/reports/cant-do",
    summary='How many candidates missed each "can\'t do" statement, per skill and level',
    description="For the unit and every unit below it, tests taken between `from` and `to` (default: the "
    "last 90 days).",
    tags=["Reports"],
    responses=documented(200, "The report, or a link to its XLSX."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def cant_do_report(
    org_unit: Unit = None, since: Since = None, until: Until = None, format: Format = "json"
) -> dict[str, Any]:
    report = outcome_reports.cant_do(current_caller(), org_unit, since, until)
    return outcome_reports.cant_do_xlsx(report) if format == "xlsx" else report


@router.get(
    "/v1/reports/ct-log",
    summary="Certification tests per test type and level: attempts, passes, failures",
    tags=["Reports"],
    responses=documented(200, "The log, or a link to its XLSX."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def ct_log_report(
    org_unit: Unit = None, since: Since = None, until: Until = None, format: Format = "json"
) -> dict[str, Any]:
    report = outcome_reports.ct_log(current_caller(), org_unit, since, until)
    return outcome_reports.ct_log_xlsx(report) if format == "xlsx" else report


@router.get(
    "/score-reports/<token>",
    summary="A result's score report page (HTML; the link's token is the access, no API key)",
    tags=["Certification"],
    responses={
        200: {"description": "The HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}},
        404: {**ERRORS[404], "description": "Not a valid link."},
    },
    security=[],
)
@public
def score_report(token: str) -> Response[str]:  # any token: a bad link is a 404, not a 400
    from gateway import score_report as page

    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=page.render(token),
        headers=page.HEADERS,
    )
