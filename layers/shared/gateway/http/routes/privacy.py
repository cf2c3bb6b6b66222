"""Privacy routes: erase a candidate's personal data, export everything held about them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from gateway import privacy
from gateway.auth import current_caller
from gateway.contracts import Role
from gateway.http.app import requires
from gateway.http.routes.common import documented
from gateway.privacy_contracts import CandidateErased, CandidateExport

router = Router()  # type: ignore[no-untyped-call]
CandidateId = Annotated[str, Path(max_length=64, description="Candidate id (cand_...).")]


@router.delete(
    "/v1/candidates/<candidateId>",
    summary="Erase a candidate's personal data everywhere the service keeps it",
    description="Deletes the profile (so no candidate search finds them), invitations, callbacks and e-mail "
    "history about the candidate, strips assigned-to and registration from their test IDs, anonymises their "
    "results and outcomes (the figures and the can't-do / CT-log counts stay, without identity), keeps a "
    "suppression of their address as a keyed hash only, deletes their CT status and certificate PDFs (the "
    "code then verifies as `erased`, showing nothing else) and removes them from import uploads and "
    "reports. Covers a transferred candidate in every unit it was in. A second DELETE is a 404: the "
    "candidate is gone.",
    tags=["Privacy"],
    responses=documented(200, "Erased; counts of what was erased or anonymised."),
)
@requires(Role.ADMIN, body=None)
def erase_candidate(candidateId: CandidateId) -> CandidateErased:
    counts = privacy.erase(current_caller(), candidateId)
    return CandidateErased.model_validate({"id": candidateId, **counts})


@router.get(
    "/v1/candidates/<candidateId>/export",
    summary="Everything held about a candidate, as JSON",
    description="Profile, invitations and test IDs with their result versions, callbacks, e-mails sent to "
    "them and suppressions of their address, outcomes, CT status, certificates (code and status) and "
    "transfers.",
    tags=["Privacy"],
    responses=documented(200, "The candidate's data."),
)
@requires(Role.ADMIN, body=None)
def export_candidate(candidateId: CandidateId) -> CandidateExport:
    return CandidateExport.model_validate(privacy.export(current_caller(), candidateId))
