"""The README's signing recipes (curl + openssl, Python), run exactly as written against the local stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest
import requests

from tests.helpers import ROOT


def _snippet(marker: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- sign:{marker} -->\n```\w+\n(.*?)```", readme, re.S)
    assert match, f"README has no sign:{marker} snippet"
    return match.group(1)


@pytest.fixture
def signer(local_stack):
    headers = {"x-api-key": local_stack.admin_key}
    entries = [
        {"test-id": f"RM{uuid.uuid4().hex[:8]}", "password": "pw", "test-type": "Academic-Plus"}
        for _ in range(2)
    ]
    assert (
        requests.post(
            f"{local_stack.base_url}/v1/test-ids", json={"test-ids": entries}, headers=headers, timeout=30
        ).status_code
        == 201
    )
    unit = requests.post(
        f"{local_stack.base_url}/v1/org-units",
        json={"name": f"Signers {uuid.uuid4().hex[:6]}"},
        headers=headers,
        timeout=30,
    ).json()["id"]
    requests.post(
        f"{local_stack.base_url}/v1/test-ids/allocations",
        headers=headers,
        timeout=30,
        json={"org-unit": unit, "test-type": "Academic-Plus", "count": 2},
    )
    key = requests.post(
        f"{local_stack.base_url}/v1/api-keys",
        headers=headers,
        timeout=30,
        json={"org-unit": unit, "role": "integration", "signed-only": True},
    ).json()
    return {
        **os.environ,
        "BASE_URL": local_stack.base_url,
        "KEY_ID": key["key-id"],
        "SIGNING_SECRET": key["signing-secret"],
    }


def test_the_curl_and_openssl_recipe_signs_a_fulfilment(signer):
    out = subprocess.run(
        ["bash", "-c", _snippet("curl")], env=signer, capture_output=True, text=True, check=True
    )
    reply = json.loads(out.stdout)
    assert reply["product-code"] == "GTX-Academic-Plus" and reply["test-id"].startswith("RM"), out.stdout


def test_the_python_recipe_signs_a_fulfilment(signer):
    out = subprocess.run(
        [sys.executable, "-c", _snippet("python")], env=signer, capture_output=True, text=True, check=True
    )
    reply = json.loads(out.stdout)
    assert reply["product-code"] == "GTX-Academic-Plus" and reply["test-id"].startswith("RM"), out.stdout
