"""Dispatch function: events queue -> one delivery per endpoint that asked for the event.

SQS batch with partial failures (powertools BatchProcessor): a failed record is retried by SQS and, after
maxReceiveCount, lands in the events dead-letter queue; the others are not repeated.
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


def record_handler(record: SQSRecord) -> None:
    created = deliveries.dispatch(json.loads(record.body))
    observability.count("DeliveriesCreated", len(created))


@observability.traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
