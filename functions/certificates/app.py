"""Certificates function: catalogue, outcomes, certificates (issue from CertificateQueue, public
verification, revocation), institutional reports (can't-do, CT log) and the score report page.

fpdf2 (PDF), jinja2 (the page) and openpyxl (XLSX) are this function's own dependencies
(requirements.txt here), each imported only by the code path that needs it.
"""

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway.http.app import Api
from gateway.http.routes import certification

api = Api(certification.router)
http_handler = api.lambda_handler()
FONTS = Path(__file__).resolve().parent / "fonts"  # DejaVu Sans: names in any Latin, Greek or Cyrillic script
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def issue(record: SQSRecord) -> str:
    from gateway import certificates

    return certificates.issue(record.body, FONTS)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=issue, processor=processor, context=context
        )
    return http_handler(event, context)
