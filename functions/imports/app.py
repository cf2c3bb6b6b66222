"""Import function: S3 object-created events under imports/<unit>/ and the continuation queue (SQS).

An S3 event binds the object to its import (once per bucket, key and version/ETag) and queues the first
segment; each SQS message runs one segment of the file. openpyxl (XLSX) is a dependency of this function
alone (requirements.txt here), never of the API functions.
"""

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway import imports, observability

logger = observability.logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def segment(record: SQSRecord, lambda_context: LambdaContext) -> str:
    receives = int(record.attributes.approximate_receive_count or 1)
    outcome = imports.handle_message(record.body, receives, lambda_context.get_remaining_time_in_millis)
    if outcome in ("completed", "failed"):
        observability.count("ImportsCompleted" if outcome == "completed" else "ImportsFailed")
    return outcome


@observability.traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=segment, processor=processor, context=context
        )
    started = []
    for record in S3Event(event).records:
        obj = record.s3.get_object
        started.append(
            imports.object_created(record.s3.bucket.name, obj.key, obj.version_id, obj.etag, obj.size or 0)
        )
    observability.count("ImportsStarted", sum(1 for s in started if s))
    return {"imports": started}
