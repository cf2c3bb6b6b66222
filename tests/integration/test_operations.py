"""Operating the deployed service: the first admin key, created without the local stack; business metrics."""

import json

from gateway import deliveries
from tests.helpers import LambdaContext


def test_a_one_off_invoke_of_the_admin_function_creates_the_first_admin_key(stack):
    # Given a deployed stack: no API key exists that an operator knows
    admin = stack.api.handler("AdminFunction")
    # When the operator invokes the admin function directly with a bootstrap request
    reply = admin({"bootstrap": {"name": "Root"}}, LambdaContext())
    # Then it answers the root unit and a new admin key, which works on the API at once
    assert reply["org_unit"] == stack.root
    assert reply["api_key"].startswith(reply["key_id"] + ".")
    listed = stack.api.as_key(reply["api_key"]).get("/v1/org-units")
    assert listed.status == 200, listed.body
    # And a second invoke adds another key to the same root, never a second root
    again = admin({"bootstrap": {"name": "Root"}}, LambdaContext())
    assert again["org_unit"] == stack.root and again["api_key"] != reply["api_key"]


def test_an_api_event_never_reaches_the_bootstrap(stack):
    # Given a request through API Gateway whose body asks for a bootstrap, without a key
    reply = stack.api.post("/v1/org-units", {"bootstrap": {"name": "Evil"}}, key=None)
    # Then it is refused like any unauthenticated call
    assert reply.status == 401


def test_delivery_outcomes_are_emitted_as_business_metrics(stack, monkeypatch, capsys):
    # Given a delivery worker whose attempts succeed, retry and die
    outcomes = iter(["succeeded", "retrying", "dead"])
    monkeypatch.setattr(deliveries, "deliver", lambda delivery_id: next(outcomes))
    worker = stack.api.handler("DeliveryFunction")
    records = [
        {
            "messageId": f"m{i}",
            "receiptHandle": f"r{i}",
            "body": json.dumps({"delivery": f"dlv_{i}"}),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:DeliveryQueue",
            "awsRegion": "us-east-1",
        }
        for i in range(3)
    ]
    capsys.readouterr()
    # When one batch of three is handled
    assert worker({"Records": records}, LambdaContext()) == {"batchItemFailures": []}
    # Then the EMF line the worker prints counts each outcome once
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted = {k: v for doc in emf for k, v in doc.items() if k.startswith("Deliveries")}
    assert counted == {
        "DeliveriesSucceeded": [1.0],
        "DeliveriesRetried": [1.0],
        "DeliveriesDeadLettered": [1.0],
    }
