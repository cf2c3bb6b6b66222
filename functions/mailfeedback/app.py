"""Mail feedback function: SES events (SES -> SNS -> MailFeedbackQueue) -> sends confirmed, bounced and
complained addresses suppressed, `invitation.email_bounced` for the unit's tracks."""

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway import mailfeedback, observability

logger = observability.logger()  # JSON, addresses and keys masked
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> str:
    return mailfeedback.handle(mailfeedback.unwrap(record.body))


@observability.traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
