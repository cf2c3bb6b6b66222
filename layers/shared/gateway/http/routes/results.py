"""Results intake: POST /v1/results, called by the test engine (signed with the engine's secret)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit

from gateway import intake, results
from gateway.http.app import current_request, engine_signed
from gateway.http.routes.common import RAW_BODY, documented
from gateway.intake import IntakeReply

router = Router()  # type: ignore[no-untyped-call]
metrics = Metrics()

_STATUS = {"type": "string", "enum": [*results.STATES, "Complete"], "description": "The test's state."}
_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 40}]}
_ITEP = {
    "title": "ItepResult",
    "type": "object",
    "description": "The iTEP seed's results webhook (its other fields are taken as the seed documents them).",
    "required": ["TestID", "Status"],
    "properties": {
        "TestID": {"type": "string", "minLength": 1, "maxLength": 64},
        "Status": _STATUS,
        "OID": {"type": "string", "maxLength": 200},
        "Overall_Level": _NUMBER,
        "Overall_cefr": {"type": "string", "enum": list(results.CEFR)},
        "TestDate": {"type": "string", "description": "M/D/YYYY"},
    },
}
_V2 = {
    "title": "V2Result",
    "type": "object",
    "required": ["TestInvitationId", "Status"],
    "properties": {
        "TestInvitationId": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "Status": _STATUS,
        "AttemptedOn": {"type": "string", "maxLength": 64},
        "TotalScore": _NUMBER,
        "CandidateScore": _NUMBER,
        "ReportPDFUrl": {"type": "string", "format": "uri", "maxLength": 2048},
    },
}
REQUEST_BODY = {
    "required": True,
    "content": {
        results.JSON: {"schema": {"oneOf": [_ITEP, _V2]}},
        results.FORM: {
            "schema": {
                "type": "object",
                "required": ["data"],
                "properties": {"data": {"type": "string", "description": "The iTEP result JSON."}},
            }
        },
    },
}


@router.post(
    "/v1/results",
    summary="A result or state change from the test engine",
    description="iTEP: `application/x-www-form-urlencoded` with ONE field `data` holding the result JSON, "
    "or the same JSON as `application/json`. V2: JSON naming `TestInvitationId`. Signed by the engine: "
    '`x-timestamp`, `x-signature: v1=<hex HMAC-SHA256(engine secret, "<timestamp>.<raw body>")>`. '
    "A duplicate, or a message the test's life cycle refuses (out of order, or after a final state), is "
    "answered 200 with `applied: false` and `reason` duplicate / stale (`detail`: the rule).",
    tags=["Results"],
    responses=documented(200, "Taken in (or recognised as a duplicate / stale message)."),
    openapi_extensions={RAW_BODY: REQUEST_BODY},
)
@engine_signed
def take_result() -> IntakeReply:
    request = current_request.get()
    result = results.validate(results.parse_body(request.media_type, request.body))
    reply = intake.take(result, base_url=request.base_url)
    metrics.add_metric(
        name="ResultsApplied" if reply.applied else "ResultsIgnored", unit=MetricUnit.Count, value=1
    )
    return reply
