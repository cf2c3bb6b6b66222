"""Mailer function: NotificationsQueue -> e-mails through SES, exactly once per event and recipient.

SQS batch with partial failures (powertools BatchProcessor): a record whose e-mail could not be sent now
(SES throttling or outage) fails alone and comes back after the queue's visibility timeout; e-mails of the
same event already sent are not repeated (gateway.notify). After ten receives it goes to the DLQ.
"""

import json

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway import notify, observability

logger = observability.logger()  # JSON, addresses and keys masked
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> dict:
    return notify.handle(json.loads(record.body))


@observability.traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
