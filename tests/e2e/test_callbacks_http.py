"""Results in, callbacks out, end to end on the local stack: the SQS triggers run dispatch and delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import parse_qs

import requests

from gateway import webhooks
from tests.helpers import Receiver


def _engine_post(stack, payload):
    body = json.dumps(payload)
    stamp = str(int(time.time()))
    mac = hmac.new(stack.engine_secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return requests.post(f"{stack.base_url}/v1/results", data=body, timeout=30, headers={
        "content-type": "application/json", "x-timestamp": stamp, "x-signature": f"v1={mac}"})


def test_a_completed_result_is_delivered_to_the_track_signed(local_stack):
    receiver = Receiver(replies=[503])  # the first attempt fails: the retry must get through
    try:
        headers = {"x-api-key": local_stack.admin_key}
        code, test_type, test_id = f"T{uuid.uuid4().hex[:6]}", f"Cb-{uuid.uuid4().hex[:6]}", f"CB{uuid.uuid4().hex[:8]}"
        track = requests.post(f"{local_stack.base_url}/v1/tracks", headers=headers, timeout=30, json={
            "code": code, "url": receiver.url, "format": "itep-form", "events": ["completed"]}).json()
        requests.post(f"{local_stack.base_url}/v1/test-ids", headers=headers, timeout=30, json={
            "test-ids": [{"test-id": test_id, "password": "pw", "test-type": test_type}]})
        taken = requests.post(f"{local_stack.base_url}/v1/fulfillments", headers=headers, timeout=30, json={
            "product-code": f"GTX-{test_type}", "track": code, "registration": {"trExternal_ID": "crm-1"}})
        assert taken.status_code == 201
        reply = _engine_post(local_stack, {"TestID": test_id, "Status": "Completed", "Overall_Level": "4.5"})
        assert reply.status_code == 200 and reply.json()["applied"] is True
        deadline = time.monotonic() + 60
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(receiver.requests) == 2, receiver.requests
        delivered = receiver.requests[-1]
        data = json.loads(parse_qs(delivered["body"].decode())["data"][0])
        assert data["TestID"] == test_id and data["OID"] == "crm-1"
        webhooks.verify(track["signing-secret"], delivered["headers"], delivered["body"])
        assert receiver.requests[0]["headers"]["webhook-id"] == delivered["headers"]["webhook-id"]
    finally:
        receiver.close()
