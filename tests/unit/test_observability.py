"""Structured logs never carry e-mail addresses or API keys, whoever logs them."""

import io
import json
import logging

from aws_lambda_powertools import Logger

from gateway import observability

API_KEY = "key_0123456789abcdef.Zm9vYmFyYmF6cXV4X3NlY3JldC12YWx1ZS0xMjM0NTY3OA"


def _logger(stream: io.StringIO, service: str) -> Logger:
    return Logger(
        service=service,
        level="INFO",
        logger_formatter=observability.MaskingFormatter(),
        logger_handler=logging.StreamHandler(stream),
    )


def test_a_log_line_with_an_email_and_an_api_key_is_masked():
    # Given a logger configured as every function's
    stream = io.StringIO()
    log = _logger(stream, "masking-fields")
    # When a message and its extra fields carry an e-mail address, an API key and a webhook secret
    log.info(
        f"registered amit.mishra@example.com with {API_KEY}",
        extra={
            "candidate": {"email": "Mary.Poppins+x@mail.example.org", "bcc": ["twif_bam@yahoo.com"]},
            "x-api-key": "demo-key",
            "secret": "whsec_c2VjcmV0c2VjcmV0",
            "note": "track secret whsec_c2VjcmV0c2VjcmV0 rotated",
            "unit": "ou_root",
        },
    )
    line = stream.getvalue()
    # Then neither the addresses nor the key's secret appear, the rest stays readable JSON
    for secret in ("amit.mishra", "Mary.Poppins", "twif_bam", API_KEY.split(".")[1], "demo-key", "c2VjcmV0"):
        assert secret not in line
    record = json.loads(line)
    assert record["message"] == "registered ***@example.com with key_0123456789abcdef.***"
    assert record["candidate"] == {"email": "***@mail.example.org", "bcc": ["***@yahoo.com"]}
    assert record["x-api-key"] == "***"
    assert record["note"] == "track secret whsec_*** rotated"
    assert record["unit"] == "ou_root"


def test_an_exception_text_is_masked_too():
    # Given a failure whose message names a candidate
    stream = io.StringIO()
    log = _logger(stream, "masking-exception")
    try:
        raise ValueError("could not send to amit.mishra@example.com")
    except ValueError:
        # When it is logged with its traceback
        log.exception("send failed")
    # Then the traceback text carries no address
    assert "amit.mishra" not in stream.getvalue()
    assert "***@example.com" in stream.getvalue()


def test_every_function_gets_the_masking_logger():
    # Given the logger the entry points use (observability.logger(), once per process)
    # Then it formats with the masking formatter
    handler = observability.logger().registered_handler
    assert isinstance(handler.formatter, observability.MaskingFormatter)


def test_api_functions_load_the_tracer_only_when_switched_on(monkeypatch):
    # Given an API entry point, and a spy standing in for the Tracer wrapper
    from gateway.http.app import Api
    from gateway.http.routes import docs

    wrapped = []
    monkeypatch.setattr(observability, "traced", lambda handler: wrapped.append(handler) or handler)
    # When the switch is off (the default), then the handler is not traced
    monkeypatch.delenv("API_XRAY_SDK", raising=False)
    Api(docs.router).lambda_handler()
    assert wrapped == []
    # When ApiXRaySdk=true sets API_XRAY_SDK, then it is
    monkeypatch.setenv("API_XRAY_SDK", "true")
    Api(docs.router).lambda_handler()
    assert len(wrapped) == 1
