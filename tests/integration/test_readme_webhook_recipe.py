"""The README's "Verifying our webhooks" recipe, run exactly as written, against deliveries signed by
gateway.webhooks: it accepts genuine JSON and itep-form deliveries and refuses tampered or stale ones."""

from __future__ import annotations

import ast
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from gateway import webhooks
from tests.helpers import ROOT

SECRET = webhooks.new_secret(b"readme-recipe-key-32-bytes-long!")
PAYLOAD = json.loads((ROOT / "tests" / "fixtures" / "itep-results-webhook.json").read_text())
FORM = "application/x-www-form-urlencoded"


def _snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- verify:python -->\n```python\n(.*?)```", readme, re.S)
    assert match, "README has no verify:python snippet"
    return match.group(1)


@pytest.fixture(scope="module")
def verify_webhook() -> Callable[..., Any]:
    namespace: dict[str, Any] = {"__name__": "readme_recipe"}
    exec(compile(_snippet(), "README.md#verify:python", "exec"), namespace)
    return namespace["verify_webhook"]


def _delivery(body: bytes, content_type: str, *, at: int | None = None) -> dict[str, str]:
    """The headers our delivery function sends with `body`."""
    stamp = int(time.time()) if at is None else at
    return {"Content-Type": content_type, **webhooks.headers(SECRET, "evt_readme_1", stamp, body)}


def _json_body() -> bytes:
    return json.dumps(PAYLOAD).encode()


def _form_body() -> bytes:
    return urlencode({"data": json.dumps(PAYLOAD)}).encode()


def test_the_recipe_uses_only_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(_snippet())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported and imported <= sys.stdlib_module_names, imported


def test_a_genuine_json_delivery_is_accepted(verify_webhook):
    # Given a JSON delivery signed by the service
    body = _json_body()
    # When the receiver runs the README's recipe on it, then it gets the payload back
    assert verify_webhook(SECRET, _delivery(body, "application/json"), body) == PAYLOAD


def test_a_genuine_form_delivery_is_accepted_and_its_data_field_parsed(verify_webhook):
    # Given an itep-form delivery: ONE form field `data` holding the JSON, signed over the raw form bytes
    body = _form_body()
    assert body.startswith(b"data=%7B")
    # When the receiver runs the recipe on the raw body, then it gets the JSON inside `data`
    assert verify_webhook(SECRET, _delivery(body, FORM), body) == PAYLOAD


def test_lowercase_header_names_and_several_signatures_are_fine(verify_webhook):
    body = _json_body()
    headers = {name.lower(): value for name, value in _delivery(body, "application/json").items()}
    other = webhooks.sign(webhooks.new_secret(b"o" * 32), headers["webhook-id"], 1, body)
    headers["webhook-signature"] = f"{other} {headers['webhook-signature']}"
    assert verify_webhook(SECRET, headers, body) == PAYLOAD


@pytest.mark.parametrize(
    ("content_type", "make_body", "tamper"),
    [
        ("application/json", _json_body, lambda b: b.replace(b'"C1"', b'"C2"', 1)),
        ("application/json", _json_body, lambda b: b + b" "),
        (FORM, _form_body, lambda b: b.replace(b"C1", b"C2", 1)),
        (FORM, _form_body, lambda b: b + b"&data=%7B%7D"),
    ],
    ids=["json-value", "json-trailing-space", "form-value", "form-extra-field"],
)
def test_a_tampered_body_is_refused(verify_webhook, content_type, make_body, tamper):
    # Given a genuine delivery whose body is changed on the way
    body = make_body()
    headers = _delivery(body, content_type)
    tampered = tamper(body)
    assert tampered != body
    # Then the recipe refuses it
    with pytest.raises(ValueError, match="does not match"):
        verify_webhook(SECRET, headers, tampered)


def test_another_secret_a_changed_id_and_a_stale_delivery_are_refused(verify_webhook):
    body = _json_body()
    headers = _delivery(body, "application/json")
    with pytest.raises(ValueError, match="does not match"):
        verify_webhook(webhooks.new_secret(b"x" * 32), headers, body)
    with pytest.raises(ValueError, match="does not match"):
        verify_webhook(SECRET, {**headers, "webhook-id": "evt_other"}, body)
    stale = _delivery(body, "application/json", at=int(time.time()) - 600)
    with pytest.raises(ValueError, match="stale"):
        verify_webhook(SECRET, stale, body)


def test_missing_headers_are_refused(verify_webhook):
    body = _json_body()
    headers = _delivery(body, "application/json")
    del headers["webhook-signature"]
    with pytest.raises(ValueError, match="missing"):
        verify_webhook(SECRET, headers, body)
