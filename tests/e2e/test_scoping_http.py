"""The scoping rules over HTTP: every role x own unit / child / sibling / parent."""

from __future__ import annotations

import uuid

import pytest
import requests


class Http:
    def __init__(self, base_url: str, key: str) -> None:
        self.base_url, self.key = base_url, key

    def call(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        return requests.request(
            method, self.base_url + path, json=body, headers={"x-api-key": self.key}, timeout=30
        )


@pytest.fixture(scope="module")
def tree(local_stack):
    root = Http(local_stack.base_url, local_stack.admin_key)
    tag = uuid.uuid4().hex[:6]

    def unit(name, parent=None):
        reply = root.call(
            "POST", "/v1/org-units", {"name": f"{name}-{tag}", **({"parent-id": parent} if parent else {})}
        )
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]

    parent = unit("parent")
    units = {"parent": parent, "own": unit("own", parent), "sibling": unit("sibling", parent)}
    units["child"] = unit("child", units["own"])
    invitations = {}
    for where, unit_id in units.items():
        key = root.call("POST", "/v1/api-keys", {"org-unit": unit_id, "role": "integration"}).json()[
            "api-key"
        ]
        reply = Http(local_stack.base_url, key).call(
            "POST", "/v2/tests/42/register", {"emailId": f"{where}@example.com", "fullName": where}
        )
        invitations[where] = reply.json()["result"]["testInvitationId"]
    keys = {
        role: root.call("POST", "/v1/api-keys", {"org-unit": units["own"], "role": role}).json()["api-key"]
        for role in ("admin", "support", "integration")
    }
    return units, invitations, keys


@pytest.mark.parametrize("role", ["admin", "support", "integration"])
@pytest.mark.parametrize("where", ["own", "child", "sibling", "parent"])
def test_probe_matrix(local_stack, tree, role, where):
    units, invitations, keys = tree
    api = Http(local_stack.base_url, keys[role])
    in_scope = where in ("own", "child")
    # Reading an invitation: every role, in scope only
    read = api.call("GET", f"/v2/invitations/{invitations[where]}")
    assert read.status_code == (200 if in_scope else 403), read.text
    # Creating a unit and a key there: admins only, in scope only
    expected = 201 if role == "admin" and in_scope else 403
    made_unit = api.call(
        "POST", "/v1/org-units", {"name": f"by-{role}-{uuid.uuid4().hex[:6]}", "parent-id": units[where]}
    )
    made_key = api.call("POST", "/v1/api-keys", {"org-unit": units[where], "role": "support"})
    assert (made_unit.status_code, made_key.status_code) == (expected, expected), (
        made_unit.text,
        made_key.text,
    )
    if expected == 403:
        code = "403.1" if role != "admin" else "403.2"
        assert made_unit.json()["statuscode"] == code and made_key.json()["statuscode"] == code
    # Listing units never shows the sibling or the parent
    listing = api.call("GET", "/v1/org-units")
    if role == "integration":
        assert listing.status_code == 403
    else:
        ids = {u["id"] for u in listing.json()["items"]}
        assert units["own"] in ids and units["child"] in ids
        assert units["sibling"] not in ids and units["parent"] not in ids
