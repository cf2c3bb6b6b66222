"""Results intake function: POST /v1/results from the test engine.

X-Ray tracing comes from the function's `Tracing: Active` (template.yaml); the powertools Tracer is left
out of API functions because importing the X-Ray SDK alone adds ~120 ms to every cold start.
"""

from gateway.http.app import Api
from gateway.http.routes import results

api = Api(results.router)
lambda_handler = api.lambda_handler()
