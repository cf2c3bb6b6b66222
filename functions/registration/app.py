"""Registration API function: POST /v2/tests/{testId}/register, GET /v2/invitations/{testInvitationId}.

X-Ray tracing comes from the function's `Tracing: Active` (template.yaml); the powertools Tracer is left
out of API functions because importing the X-Ray SDK alone adds ~120 ms to every cold start.
"""

from gateway.http.app import Api
from gateway.http.routes import registration

api = Api(registration.router)
lambda_handler = api.lambda_handler()
