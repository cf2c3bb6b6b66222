"""Delivery function: one attempt per delivery-queue message (retries are re-queued with a delay).

SQS batch with partial failures (powertools BatchProcessor); a record that fails unexpectedly is retried by
SQS and, after maxReceiveCount, lands in the delivery dead-letter queue.
"""

import json

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway import deliveries, observability

logger = observability.logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
# Business metrics (EMF) per outcome of an attempt; "dead" has also gone to the dead-letter queue.
OUTCOME_METRICS = {
    "succeeded": "DeliveriesSucceeded",
    "retrying": "DeliveriesRetried",
    "dead": "DeliveriesDeadLettered",
    "disabled": "DeliveriesEndpointDisabled",
}


def record_handler(record: SQSRecord) -> None:
    outcome = deliveries.deliver(json.loads(record.body)["delivery"])
    if outcome in OUTCOME_METRICS:
        observability.count(OUTCOME_METRICS[outcome])


@observability.traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
