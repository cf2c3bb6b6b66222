"""Provisioning API function: iTEP-style fulfilment (GTX / STX), the test-ID inventory, imports (upload
URLs and status) and low-stock thresholds.

X-Ray tracing comes from the function's `Tracing: Active` (template.yaml); the powertools Tracer is left
out of API functions because importing the X-Ray SDK alone adds ~120 ms to every cold start.
"""

from gateway.http.app import Api
from gateway.http.routes import imports, provisioning, stock

api = Api(provisioning.router, imports.router, stock.router)
lambda_handler = api.lambda_handler()
