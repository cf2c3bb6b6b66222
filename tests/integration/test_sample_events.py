"""Every sample event in events/ runs through its function's real handler on moto without a server error.

What a developer gets from `sam local invoke <Function> -e events/<folder>/<file>.json`, with the two
placeholders a developer replaces filled in: the API key (the stack's admin key) and the engine's signature
(signed afresh with the engine secret). Samples of a function run in file-name order on one stack, so
`add-test-ids.json` stocks what `fulfil.json` then takes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import boto3
import pytest

from gateway.config import get_settings
from tests.helpers import LambdaContext
from tests.integration.conftest import ADMIN_KEY
from tests.unit.test_sample_events import FUNCTIONS, kind_of, samples_of

PLACEHOLDER_KEY = "key_0123456789abcdef.replace-with-your-key"


def _fill_in(event: dict[str, Any]) -> dict[str, Any]:
    """The sample as a developer would send it: their key, and a fresh engine signature."""
    headers = event.get("headers") or {}
    if headers.get("x-api-key") == PLACEHOLDER_KEY:
        headers["x-api-key"] = ADMIN_KEY
        event["multiValueHeaders"]["x-api-key"] = [ADMIN_KEY]
    if "x-signature" in headers:
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=get_settings().engine_secret_id)
        stamp = str(int(time.time()))
        mac = hmac.new(
            secret["SecretString"].encode(), f"{stamp}.{event['body']}".encode(), hashlib.sha256
        ).hexdigest()
        headers.update({"x-timestamp": stamp, "x-signature": f"v1={mac}"})
        event["multiValueHeaders"].update({"x-timestamp": [stamp], "x-signature": [f"v1={mac}"]})
    return event


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_each_sample_event_runs_through_its_handler_without_a_server_error(stack, function_id):
    # Given the function's handler, warm, on a stack built from template.yaml
    handler = stack.api.handler(function_id)
    for sample in samples_of(FUNCTIONS[function_id]):
        event = _fill_in(json.loads(sample.read_text(encoding="utf-8")))
        # When it is invoked with the sample event
        reply = handler(event, LambdaContext())
        # Then an API reply is not a 5xx, and a queue consumer fails no record
        if kind_of(event) == "Api":
            assert reply["statusCode"] < 500, (sample.name, reply.get("body"))
        elif kind_of(event) == "SQS":
            assert reply == {"batchItemFailures": []}, (sample.name, reply)
