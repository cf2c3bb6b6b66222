"""Privacy function: erase a candidate's personal data, export everything held about them.

X-Ray tracing comes from the function's `Tracing: Active` (template.yaml); the powertools Tracer is left
out of API functions because importing the X-Ray SDK alone adds ~120 ms to every cold start.
"""

from gateway.http.app import Api
from gateway.http.routes import privacy

api = Api(privacy.router)
lambda_handler = api.lambda_handler()
