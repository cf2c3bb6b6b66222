"""Provisioning API function: iTEP-style fulfilment (GTX / STX), the test-ID inventory, imports (upload
URLs and status) and low-stock thresholds.

X-Ray tracing comes from the function's `Tracing: Active` (template.yaml); the powertools Tracer is left
out of API functions because importing the X-Ray SDK alone adds ~120 ms to every cold start.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway.http.app import Api
from gateway.http.routes import imports, provisioning, stock

logger = Logger()
metrics = Metrics()
api = Api(provisioning.router, imports.router, stock.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return api.handle(event, context)
