"""V2 registration routes (the V2 seed's contract, camelCase)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.metrics import MetricUnit

from gateway import registration
from gateway.auth import current_caller
from gateway.contracts import InvitationView, RegisterRequest, RegisterResult, Role, V2Envelope
from gateway.http.app import ANY_ROLE, requires
from gateway.http.routes.common import documented
from gateway.validation import INT64_MAX, PlainInt

router = Router()  # type: ignore[no-untyped-call]
metrics = Metrics()


@router.post(
    "/v2/tests/<testId>/register",
    summary="Register a candidate for a test",
    description="Posting again for the same candidate (same unit, test and e-mail, case-insensitive) updates "
    "fullName, callbackURL and redirectURL and returns the same testInvitationId.",
    tags=["V2 registration"],
    responses=documented(200, "Registered (or updated)."),
)
@requires(Role.ADMIN, Role.INTEGRATION)
def register(
    testId: Annotated[PlainInt, Path(gt=0, le=INT64_MAX, description="Test id (Int64).")],
    request: Annotated[RegisterRequest, Body()],
) -> V2Envelope[RegisterResult]:
    result = registration.register(current_caller(), testId, request)
    metrics.add_metric(name="Registrations", unit=MetricUnit.Count, value=1)
    return V2Envelope[RegisterResult](result=result)


@router.get(
    "/v2/invitations/<testInvitationId>",
    summary="Read an invitation",
    tags=["V2 registration"],
    responses=documented(200, "The invitation."),
)
@requires(*ANY_ROLE, body=None)
def get_invitation(
    testInvitationId: Annotated[PlainInt, Path(gt=0, le=INT64_MAX, description="Invitation id (Int64).")],
) -> V2Envelope[InvitationView]:
    return V2Envelope[InvitationView](result=registration.get_invitation(current_caller(), testInvitationId))
