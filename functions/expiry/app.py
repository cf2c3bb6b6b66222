"""Expiry function: every 15 minutes (EventBridge schedule) and on POST /v1/jobs/expire-assignments
(root admin), releases assignments whose `assigned-to.expire` passed while the test was not started.
"""

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway import expiry, observability
from gateway.http.app import Api
from gateway.http.routes import jobs

logger = observability.logger()
metrics = Metrics()
api = Api(jobs.router)


@observability.traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "httpMethod" in event:
        return api.handle(event, context)
    result = expiry.run_for_schedule(context.get_remaining_time_in_millis())
    metrics.add_metric(name="AssignmentsExpired", unit=MetricUnit.Count, value=result.released)
    return result.model_dump(by_alias=True)
