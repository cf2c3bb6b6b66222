"""Jobs an operator may run now instead of waiting for their schedule (served by the job's function)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from gateway import expiry
from gateway.auth import current_caller
from gateway.contracts import Role
from gateway.errors import WrongRole
from gateway.http.app import requires
from gateway.http.routes.common import documented
from gateway.inventory_contracts import ExpiryRun

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/v1/jobs/expire-assignments",
    summary="Release expired, unused assignments now (the job also runs every 15 minutes)",
    description="Root admin only (an admin key of the organisation unit at the top of the tree). Runs for "
    "at most about 20 seconds; `complete: false` means due assignments are left for the next run.",
    tags=["Jobs"],
    responses=documented(200, "Counts of the run."),
)
@requires(Role.ADMIN, body=None)
def expire_assignments() -> ExpiryRun:
    caller = current_caller()
    if caller.unit_path != f"/{caller.unit_id}/":
        raise WrongRole("x-api-key: only an admin key of the root organisation unit may run jobs")
    return expiry.run_now(caller.key_id)
