"""Candidate administration routes and XLSX reports (issue 6). Roles: admin and support (support may read
and update candidates, never keys, units or inventory); integration keys register candidates but do not
administer them."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from gateway import candidates
from gateway.auth import current_caller
from gateway.candidate_contracts import (
    CandidateDetail,
    CandidatePage,
    CandidatePatch,
    ReportLink,
    TransferRequest,
)
from gateway.contracts import Role
from gateway.http.app import requires
from gateway.http.routes.common import documented

router = Router()  # type: ignore[no-untyped-call]
CandidateId = Annotated[str, Path(max_length=64, description="The candidate's id (cand_...).")]
Limit = Annotated[int, Query(ge=1, le=candidates.MAX_PAGE, description="Page size (at most 100).")]
Cursor = Annotated[str | None, Query(max_length=2048, description="next-cursor of the previous page.")]
Text = Annotated[str | None, Query(max_length=254)]
SEARCH_DESCRIPTION = (
    "Filters (all optional, combined with AND): `email` (exact, any case), `email-prefix`, `username` "
    "(exact), `name` (prefix of the full name, any case), `level`, `status`, `test-type`, `source` (api, "
    "dashboard, import or the name a caller gave), `org-unit` (that unit and its subtree, inside the "
    "caller's), `from` / `to` (creation date, ISO). Hidden candidates only with `include-hidden=true`. "
    "A page may hold fewer than `limit` items when filters apply; follow `next-cursor` until it is null."
)


def filters(
    email: Text = None,
    email_prefix: Text = None,
    username: Text = None,
    name: Text = None,
    level: Text = None,
    status: Text = None,
    test_type: Text = None,
    org_unit: Text = None,
    since: Text = None,
    until: Text = None,
    source: Text = None,
    include_hidden: bool = False,
) -> candidates.SearchFilters:
    return candidates.SearchFilters(
        email=email or None,
        email_prefix=email_prefix or None,
        username=username or None,
        name=name or None,
        level=level or None,
        status=status or None,
        test_type=test_type or None,
        unit=org_unit or None,
        since=since or None,
        until=until or None,
        source=source or None,
        include_hidden=include_hidden,
    )


@router.get(
    "/v1/candidates",
    summary="Search the candidates of the caller's subtree",
    description=SEARCH_DESCRIPTION,
    tags=["Candidates"],
    responses=documented(200, "A page."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def search_candidates(
    limit: Limit = 50,
    cursor: Cursor = None,
    email: Text = None,
    email_prefix: Annotated[str | None, Query(alias="email-prefix", max_length=254)] = None,
    username: Text = None,
    name: Text = None,
    level: Text = None,
    status: Text = None,
    test_type: Annotated[str | None, Query(alias="test-type", max_length=100)] = None,
    org_unit: Annotated[str | None, Query(alias="org-unit", max_length=64)] = None,
    since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    source: Annotated[str | None, Query(max_length=40)] = None,
    include_hidden: Annotated[bool, Query(alias="include-hidden")] = False,
) -> CandidatePage:
    f = filters(email, email_prefix, username, name, level, status, test_type, org_unit, since, until, source,
                include_hidden)  # fmt: skip
    return candidates.search(current_caller(), f, limit, cursor)


@router.get(
    "/v1/candidates/<candidateId>",
    summary="A candidate: profile, invitations, test IDs, results with versions, history, e-mail history",
    tags=["Candidates"],
    responses=documented(200, "The candidate."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def get_candidate(candidateId: CandidateId) -> CandidateDetail:
    return candidates.detail(current_caller(), candidateId)


@router.patch(
    "/v1/candidates/<candidateId>",
    summary="Change full-name, username, dial-code, phone or hidden",
    description='Phone numbers and dial codes are text: send `"0812 3456"` or `"+62"` as strings '
    "(a number is refused, it would lose a leading 0 or +). null clears username, dial-code and phone.",
    tags=["Candidates"],
    responses=documented(200, "The candidate as changed."),
)
@requires(Role.ADMIN, Role.SUPPORT)
def patch_candidate(candidateId: CandidateId, request: Annotated[CandidatePatch, Body()]) -> CandidateDetail:
    return candidates.update(current_caller(), candidateId, request)


@router.post(
    "/v1/candidates/<candidateId>/transfer",
    summary="Move a candidate to another unit of the caller's subtree",
    description="Its invitations (with their results) and the test IDs assigned to it in its unit move "
    "with it, in one transaction; the history records who moved it and when.",
    tags=["Candidates"],
    responses=documented(200, "The candidate in its new unit."),
)
@requires(Role.ADMIN, Role.SUPPORT)
def transfer_candidate(
    candidateId: CandidateId, request: Annotated[TransferRequest, Body()]
) -> CandidateDetail:
    return candidates.transfer(current_caller(), candidateId, request.org_unit)


def _reply(result: bytes | ReportLink, rows: int, name: str) -> Response[Any]:
    """The file itself (bytes: base64 in the proxy reply, binary to the client) or the JSON link. The report
    routes carry no return annotation, so powertools' response validation leaves the bytes alone."""
    from gateway.reports import XLSX

    headers = {"X-Report-Rows": str(rows)}
    if isinstance(result, bytes):
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(status_code=200, content_type=XLSX, body=result, headers=headers)
    return Response(
        status_code=200,
        content_type="application/json",
        body=result.model_dump_json(by_alias=True),
        headers=headers,
    )


XLSX_RESPONSES: dict[int, OpenAPIResponse] = {
    **documented(200, ""),
    200: {
        "description": "The XLSX file itself (small reports), or JSON `{report-url, expires-at, rows}` for "
        "large ones.",
        "content": {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
            "application/json": {"model": ReportLink},
        },
    },
}


@router.get(
    "/v1/candidates/<candidateId>/report.xlsx",
    summary="XLSX report of one candidate's results (and item responses)",
    tags=["Reports"],
    responses=XLSX_RESPONSES,
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def candidate_report(candidateId: CandidateId):  # type: ignore[no-untyped-def]
    # No return annotation on purpose: powertools would serialise the XLSX bytes as text (see _reply).
    from gateway import reports

    result, rows = reports.candidate_report(current_caller(), candidateId)
    return _reply(result, rows, f"candidate-{candidateId}.xlsx")


@router.get(
    "/v1/reports/results.xlsx",
    summary="XLSX report of the results of every candidate a search finds",
    description="The same filters as GET /v1/candidates. " + SEARCH_DESCRIPTION,
    tags=["Reports"],
    responses=XLSX_RESPONSES,
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def results_report(  # type: ignore[no-untyped-def]
    email: Text = None,
    email_prefix: Annotated[str | None, Query(alias="email-prefix", max_length=254)] = None,
    username: Text = None,
    name: Text = None,
    level: Text = None,
    status: Text = None,
    test_type: Annotated[str | None, Query(alias="test-type", max_length=100)] = None,
    org_unit: Annotated[str | None, Query(alias="org-unit", max_length=64)] = None,
    since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    source: Annotated[str | None, Query(max_length=40)] = None,
    include_hidden: Annotated[bool, Query(alias="include-hidden")] = False,
):
    from gateway import reports

    f = filters(email, email_prefix, username, name, level, status, test_type, org_unit, since, until, source,
                include_hidden)  # fmt: skip
    result, rows = reports.results_report(current_caller(), f)
    return _reply(result, rows, "results.xlsx")
