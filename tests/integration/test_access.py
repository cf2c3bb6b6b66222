"""Authentication, roles and organisation-unit scoping: every role x own unit / child / sibling / parent."""

from __future__ import annotations

import pytest

from gateway.repo import directory

REGISTER = {"emailId": "probe@example.com", "fullName": "Probe"}


def _unit(stack, name, parent=None, as_key=None):
    api = stack.api if as_key is None else stack.api.as_key(as_key)
    body = {"name": name} | ({"parent-id": parent} if parent else {})
    reply = api.post("/v1/org-units", body)
    assert reply.status == 201, reply.text
    return reply.json()["id"]


def _key(stack, unit, role):
    reply = stack.api.post("/v1/api-keys", {"org-unit": unit, "role": role})
    assert reply.status == 201, reply.text
    return reply.json()["api-key"]


@pytest.fixture
def tree(stack):
    """root -> parent -> own -> child, and parent -> sibling; an invitation in each unit."""
    parent = _unit(stack, "Parent")
    own = _unit(stack, "Own", parent)
    sibling = _unit(stack, "Sibling", parent)
    child = _unit(stack, "Child", own)
    units = {"parent": parent, "own": own, "sibling": sibling, "child": child}
    invitations = {}
    for name, unit in units.items():
        key = _key(stack, unit, "integration")
        reply = stack.api.as_key(key).post("/v2/tests/5/register", REGISTER)
        invitations[name] = reply.json()["result"]["testInvitationId"]
    return units, invitations


def test_every_route_but_docs_needs_a_key(stack):
    for method, path in [
        ("POST", "/v2/tests/1/register"),
        ("GET", "/v2/invitations/1"),
        ("GET", "/v1/org-units"),
        ("POST", "/v1/org-units"),
        ("GET", "/v1/api-keys"),
        ("POST", "/v1/api-keys"),
        ("DELETE", "/v1/api-keys/key_0000000000000000"),
    ]:
        missing = stack.api.call(method, path, {} if method == "POST" else None, key=None)
        assert (missing.status, missing.json()["statuscode"]) == (401, "401.1"), (method, path)
        unknown = stack.api.call(
            method,
            path,
            {} if method == "POST" else None,
            key="key_0000000000000000.nope-nope-nope-nope-nope",
        )
        assert (unknown.status, unknown.json()["statuscode"]) == (401, "401.2"), (method, path)
    assert stack.api.get("/health", key=None).status == 200
    assert stack.api.get("/openapi.json", key=None).status == 200


def test_authentication_comes_before_input_validation(stack):
    # A request that is both unauthenticated and malformed says it is unauthenticated
    reply = stack.api.post("/v2/tests/abc/register", "{not json", key=None)
    assert reply.status == 401


@pytest.mark.parametrize("role", ["admin", "support", "integration"])
@pytest.mark.parametrize(
    ("where", "visible"), [("own", True), ("child", True), ("sibling", False), ("parent", False)]
)
def test_probe_matrix_reading_invitations(stack, tree, role, where, visible):
    units, invitations = tree
    key = _key(stack, units["own"], role)
    reply = stack.api.as_key(key).get(f"/v2/invitations/{invitations[where]}")
    if visible:
        assert reply.status == 200 and reply.json()["result"]["orgUnit"] == units[where]
    else:
        assert reply.status == 403 and reply.json()["statuscode"] == "403.2"


@pytest.mark.parametrize("role", ["admin", "support", "integration"])
@pytest.mark.parametrize(
    ("where", "in_scope"), [("own", True), ("child", True), ("sibling", False), ("parent", False)]
)
def test_probe_matrix_managing_units_and_keys(stack, tree, role, where, in_scope):
    units, _ = tree
    api = stack.api.as_key(_key(stack, units["own"], role))
    create_unit = api.post("/v1/org-units", {"name": f"New under {where}", "parent-id": units[where]})
    create_key = api.post("/v1/api-keys", {"org-unit": units[where], "role": "integration"})
    for reply in (create_unit, create_key):
        if role != "admin":
            assert reply.status == 403 and reply.json()["statuscode"] == "403.1", reply.text
        elif in_scope:
            assert reply.status == 201, reply.text
        else:
            assert reply.status == 403 and reply.json()["statuscode"] == "403.2", reply.text


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("support", 200), ("integration", 403)])
def test_listing_units_shows_own_subtree_only(stack, tree, role, status):
    units, _ = tree
    reply = stack.api.as_key(_key(stack, units["own"], role)).get("/v1/org-units")
    assert reply.status == status
    if status == 200:
        assert sorted(u["id"] for u in reply.json()["items"]) == sorted([units["own"], units["child"]])


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("support", 403), ("integration", 200)])
def test_registering_needs_admin_or_integration(stack, tree, role, status):
    units, _ = tree
    reply = stack.api.as_key(_key(stack, units["own"], role)).post("/v2/tests/9/register", REGISTER)
    assert reply.status == status


def test_a_key_is_shown_once_stored_hashed_and_revocable(stack):
    # Given a new key
    created = stack.api.post(
        "/v1/api-keys", {"org-unit": stack.root, "role": "integration", "name": "LMS"}
    ).json()
    secret = created["api-key"].split(".", 1)[1]
    # Then no stored item holds the secret
    assert secret not in repr(stack.items("DirectoryTable"))
    # And listing keys never shows it
    listed = stack.api.get("/v1/api-keys").json()["items"]
    assert created["key-id"] in [k["key-id"] for k in listed]
    assert secret not in repr(listed) and all("api-key" not in k for k in listed)
    # When it is used, then revoked
    api = stack.api.as_key(created["api-key"])
    assert api.post("/v2/tests/3/register", REGISTER).status == 200
    revoked = stack.api.delete(f"/v1/api-keys/{created['key-id']}")
    assert revoked.status == 200 and revoked.json()["revoked-at"]
    # Then it no longer authenticates
    assert api.post("/v2/tests/3/register", REGISTER).status == 401


def test_a_revoked_key_cached_by_another_instance_expires_within_the_cache_window(stack, monkeypatch):
    from gateway import auth

    created = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "integration"}).json()
    api = stack.api.as_key(created["api-key"])
    assert api.post("/v2/tests/3/register", REGISTER).status == 200  # now cached
    # Revoked behind this instance's back (another Lambda instance did it)
    directory.revoke_key(created["key-id"], "2026-01-01T00:00:00Z")
    assert api.post("/v2/tests/3/register", REGISTER).status == 200  # still inside the 60 s window
    clock = auth.time.monotonic() + 61
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock)
    assert api.post("/v2/tests/3/register", REGISTER).status == 401


def test_keys_outside_the_subtree_cannot_be_revoked_and_unknown_ones_are_404(stack, tree):
    units, _ = tree
    sibling_key = stack.api.post("/v1/api-keys", {"org-unit": units["sibling"], "role": "admin"}).json()
    own_admin = stack.api.as_key(_key(stack, units["own"], "admin"))
    reply = own_admin.delete(f"/v1/api-keys/{sibling_key['key-id']}")
    assert reply.status == 403
    assert stack.api.as_key(sibling_key["api-key"]).get("/v1/org-units").status == 200  # still works
    assert own_admin.delete("/v1/api-keys/key_ffffffffffffffff").status == 404


def test_unit_names_are_unique_among_siblings_and_parents_must_exist(stack):
    _unit(stack, "Campus")
    dup = stack.api.post("/v1/org-units", {"name": "campus"})
    assert (
        dup.status == 409
        and dup.description == "name: a unit named 'campus' already exists under this parent"
    )
    missing = stack.api.post("/v1/org-units", {"name": "X", "parent-id": "ou_nope"})
    assert missing.status == 404 and missing.description == "parent-id: no organisation unit 'ou_nope'"
    assert stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "owner"}).status == 400


def test_listing_pages_have_no_duplicates_or_gaps(stack):
    made = {_unit(stack, f"U{i:02d}") for i in range(7)}
    seen, cursor = [], None
    while True:
        reply = stack.api.get("/v1/org-units", query={"limit": "3", **({"cursor": cursor} if cursor else {})})
        assert reply.status == 200
        page = reply.json()
        seen += [u["id"] for u in page["items"]]
        cursor = page["next-cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 8 and made <= set(seen)
    tampered = stack.api.get("/v1/org-units", query={"cursor": "AAAA" + "x" * 40})
    assert tampered.status == 400 and tampered.description == "cursor: is not a cursor this API issued"


@pytest.mark.parametrize("role", ["admin", "support", "integration"])
@pytest.mark.parametrize(
    ("where", "in_scope"), [("own", True), ("child", True), ("sibling", False), ("parent", False)]
)
def test_probe_matrix_revoking_keys(stack, tree, role, where, in_scope):
    # Given a key of the unit `where`, and a caller's key of role `role` in the own unit
    units, _ = tree
    target = stack.api.post("/v1/api-keys", {"org-unit": units[where], "role": "integration"}).json()
    api = stack.api.as_key(_key(stack, units["own"], role))
    # When the caller revokes it
    reply = api.delete(f"/v1/api-keys/{target['key-id']}")
    # Then only an admin may, and only below or in its own unit; a refused revocation changes nothing
    if role != "admin":
        assert reply.status == 403 and reply.json()["statuscode"] == "403.1", reply.text
    elif in_scope:
        assert reply.status == 200 and reply.json()["revoked-at"], reply.text
    else:
        assert reply.status == 403 and reply.json()["statuscode"] == "403.2", reply.text
    still_works = stack.api.as_key(target["api-key"]).post("/v2/tests/5/register", REGISTER).status == 200
    assert still_works is not (role == "admin" and in_scope)


def test_creating_a_unit_replies_id_name_and_parent_defaulting_to_the_callers_unit(stack, tree):
    units, _ = tree
    # Given an admin of the own unit
    api = stack.api.as_key(_key(stack, units["own"], "admin"))
    # When it creates a unit without naming a parent
    reply = api.post("/v1/org-units", {"name": "Evening classes"})
    # Then the reply has the contract's fields, and the parent is the caller's unit
    assert reply.status == 201, reply.text
    created = reply.json()
    assert {"id", "name", "parent-id"} <= created.keys()
    assert created["name"] == "Evening classes" and created["parent-id"] == units["own"]
    assert created["id"].startswith("ou_") and created["id"] not in units.values()
    # And naming a parent (a child of the caller's unit) puts it there
    under_child = api.post("/v1/org-units", {"name": "Lab", "parent-id": units["child"]}).json()
    assert under_child["parent-id"] == units["child"]
    # And the root admin's default parent is the root
    assert stack.api.post("/v1/org-units", {"name": "HQ"}).json()["parent-id"] == stack.root


def test_creating_a_key_replies_its_id_secret_unit_role_and_signing_secret_once(stack, tree):
    units, _ = tree
    # When the root admin creates an integration key for a unit below it
    reply = stack.api.post("/v1/api-keys", {"org-unit": units["child"], "role": "integration"})
    # Then the reply has every field the contract promises, the secrets shown this once
    assert reply.status == 201, reply.text
    created = reply.json()
    assert {"key-id", "api-key", "org-unit", "role", "signing-secret"} <= created.keys()
    assert created["org-unit"] == units["child"] and created["role"] == "integration"
    assert created["api-key"].startswith(created["key-id"] + ".")
    assert isinstance(created["signing-secret"], str) and len(created["signing-secret"]) >= 32
    # And the key works for its unit
    assert stack.api.as_key(created["api-key"]).post("/v2/tests/5/register", REGISTER).status == 200
    # And neither secret is listed again
    listed = repr(stack.api.get("/v1/api-keys").json())
    assert created["api-key"].split(".", 1)[1] not in listed and created["signing-secret"] not in listed
