"""Candidate administration (issue 6): search and its filters, pagination while candidates are added,
scoping of every route, update (phone numbers as text), transfer, registration source (issue 8 §5)."""

from __future__ import annotations

import pytest

from tests.integration.test_results_intake import post_result


def _unit(stack, name, parent=None):
    reply = stack.api.post("/v1/org-units", {"name": name} | ({"parent-id": parent} if parent else {}))
    assert reply.status == 201, reply.text
    return reply.json()["id"]


def _key(stack, unit, role):
    reply = stack.api.post("/v1/api-keys", {"org-unit": unit, "role": role})
    assert reply.status == 201, reply.text
    return reply.json()["api-key"]


def register(api, email, name="Some One", test=1001, **extra):
    reply = api.post(f"/v2/tests/{test}/register", {"emailId": email, "fullName": name} | extra)
    assert reply.status == 200, reply.text
    return reply.json()["result"]["testInvitationId"]


def all_pages(api, query, limit=3):
    seen, cursor = [], None
    while True:
        params = {"limit": str(limit), **query, **({"cursor": cursor} if cursor else {})}
        reply = api.get("/v1/candidates", query=params)
        assert reply.status == 200, reply.text
        page = reply.json()
        assert len(page["items"]) <= limit
        seen += page["items"]
        cursor = page["next-cursor"]
        if not cursor:
            return seen


@pytest.fixture
def tree(stack):
    """root -> parent -> own -> child, parent -> sibling; one candidate registered in each unit."""
    parent = _unit(stack, "Parent")
    own = _unit(stack, "Own", parent)
    sibling = _unit(stack, "Sibling", parent)
    child = _unit(stack, "Child", own)
    units = {"parent": parent, "own": own, "sibling": sibling, "child": child}
    people = {}
    for where, unit in units.items():
        api = stack.api.as_key(_key(stack, unit, "integration"))
        register(api, f"{where}@example.com", f"{where.title()} Person")
        found = stack.api.get("/v1/candidates", query={"email": f"{where}@example.com"}).json()["items"]
        people[where] = found[0]["id"]
    return units, people


def ids(items):
    return sorted(i["id"] for i in items)


# --------------------------------------------------------------------------------------------- search
def test_a_search_lists_the_callers_subtree_with_the_documented_fields(stack, tree):
    units, people = tree
    # Given an admin of "own"
    api = stack.api.as_key(_key(stack, units["own"], "admin"))
    # When it lists candidates without filters
    items = all_pages(api, {})
    # Then it sees its own unit's and its child's candidates, not the sibling's or the parent's
    assert ids(items) == sorted([people["own"], people["child"]])
    item = next(i for i in items if i["id"] == people["own"])
    assert item["email"] == "own@example.com" and item["full-name"] == "Own Person"
    assert item["org-unit"] == units["own"] and item["hidden"] is False and item["source"] == "api"
    assert item["status"] == "Registered" and item["test-type"] == "1001"


def test_filters_email_exact_and_prefix_name_username_unit_and_dates(stack, tree):
    units, people = tree
    api = stack.api
    register(api, "Alice.Smith@Example.com", "Alice Smith")
    register(api, "alicia@example.com", "Alicia Keys")
    register(api, "bob@example.com", "Bob Alison")
    # E-mail: exact whatever the case, and prefix
    exact = all_pages(api, {"email": "alice.smith@example.COM"})
    assert [i["email"] for i in exact] == ["Alice.Smith@Example.com"]
    assert sorted(i["email"] for i in all_pages(api, {"email-prefix": "ali"})) == [
        "Alice.Smith@Example.com",
        "alicia@example.com",
    ]
    assert all_pages(api, {"email": "alice@example.com"}) == []
    # Name: prefix, any case
    assert sorted(i["full-name"] for i in all_pages(api, {"name": "ALIC"})) == ["Alice Smith", "Alicia Keys"]
    # Username: set by PATCH, then exact
    alicia = all_pages(api, {"email": "alicia@example.com"})[0]["id"]
    assert api.call("PATCH", f"/v1/candidates/{alicia}", {"username": "ak47"}).status == 200
    assert ids(all_pages(api, {"username": "AK47"})) == [alicia]
    assert all_pages(api, {"username": "ak4"}) == []
    # Unit: a unit and its subtree
    assert ids(all_pages(api, {"org-unit": units["own"]})) == sorted([people["own"], people["child"]])
    # Dates: created today, none tomorrow; a bad date is a 400 naming the field
    assert len(all_pages(api, {"from": "2000-01-01"})) == 7
    assert all_pages(api, {"from": "2999-01-01"}) == []
    bad = api.get("/v1/candidates", query={"to": "yesterday"})
    assert bad.status == 400 and bad.description.startswith("to: must be an ISO date")
    # Combined filters: e-mail prefix AND name prefix AND unit
    assert [i["email"] for i in all_pages(api, {"email-prefix": "a", "name": "alicia"})] == [
        "alicia@example.com"
    ]


def test_status_level_and_test_type_filters_follow_results(stack):
    api = stack.api
    first = register(api, "done@example.com", "Done", test=77)
    register(api, "waiting@example.com", "Waiting", test=78)
    # When the engine completes the first one's test
    v2 = {"TestInvitationId": first, "Status": "Completed", "TotalScore": 50, "CandidateScore": 34}
    assert post_result(stack, v2, form=False).status == 200
    # Then the status filter finds it, and the test-type filter finds each
    assert [i["email"] for i in all_pages(api, {"status": "Completed"})] == ["done@example.com"]
    assert [i["email"] for i in all_pages(api, {"status": "Registered"})] == ["waiting@example.com"]
    assert [i["email"] for i in all_pages(api, {"test-type": "78"})] == ["waiting@example.com"]
    assert all_pages(api, {"level": "B2"}) == []


def test_hidden_candidates_only_with_include_hidden(stack):
    register(stack.api, "seen@example.com")
    register(stack.api, "hide@example.com")
    hide = all_pages(stack.api, {"email": "hide@example.com"})[0]["id"]
    # When a candidate is hidden (0 / 1 accepted, as eTest sent it)
    reply = stack.api.call("PATCH", f"/v1/candidates/{hide}", {"hidden": 1})
    assert reply.status == 200 and reply.json()["hidden"] is True
    # Then searches leave it out unless include-hidden=true
    assert [i["email"] for i in all_pages(stack.api, {})] == ["seen@example.com"]
    assert sorted(i["email"] for i in all_pages(stack.api, {"include-hidden": "true"})) == [
        "hide@example.com",
        "seen@example.com",
    ]
    assert all_pages(stack.api, {"email": "hide@example.com"}) == []
    # And unhiding brings it back
    assert stack.api.call("PATCH", f"/v1/candidates/{hide}", {"hidden": False}).status == 200
    assert len(all_pages(stack.api, {})) == 2


@pytest.mark.parametrize("query", [{}, {"email-prefix": "p"}, {"name": "person"}, {"status": "Registered"}])
def test_paging_while_candidates_are_added_repeats_and_skips_nothing(stack, query):
    api = stack.api
    originals = {f"p{i:02d}@example.com" for i in range(10)}
    for email in sorted(originals):
        register(api, email, f"Person {email[:3]}")
    # When the candidates are paged 3 at a time and two new ones are registered after every page
    seen, cursor, added = [], None, 0
    while True:
        params = {"limit": "3", **query, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/candidates", query=params).json()
        seen += [i["email"] for i in page["items"]]
        for _ in range(2):
            register(api, f"p{50 + added:02d}@example.com", f"Person late {added}")
            added += 1
        cursor = page["next-cursor"]
        if not cursor or added > 40:
            break
    # Then no candidate appears twice and every one that existed before the first page was seen
    assert len(seen) == len(set(seen))
    assert originals <= set(seen)


def test_cursors_are_tamper_proof_and_bound_to_their_search(stack):
    for i in range(4):
        register(stack.api, f"c{i}@example.com")
    cursor = stack.api.get("/v1/candidates", query={"limit": "2"}).json()["next-cursor"]
    assert cursor
    tampered = stack.api.get("/v1/candidates", query={"cursor": cursor[:-3] + "AAA"})
    assert tampered.status == 400 and tampered.description.startswith("cursor:")
    other = stack.api.get("/v1/candidates", query={"cursor": cursor, "email-prefix": "c"})
    assert other.status == 400 and other.description == "cursor: belongs to another search (filters changed)"
    too_big = stack.api.get("/v1/candidates", query={"limit": "101"})
    assert too_big.status == 400 and "limit" in too_big.description


# -------------------------------------------------------------------------------------------- scoping
ROUTES = ["get", "patch", "transfer", "report"]


def _call(api, route, candidate, target):
    if route == "get":
        return api.get(f"/v1/candidates/{candidate}")
    if route == "patch":
        return api.call("PATCH", f"/v1/candidates/{candidate}", {"phone": "0811"})
    if route == "transfer":
        return api.post(f"/v1/candidates/{candidate}/transfer", {"org-unit": target})
    return api.get(f"/v1/candidates/{candidate}/report.xlsx")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("role", ["admin", "support", "integration"])
@pytest.mark.parametrize(
    ("where", "visible"), [("own", True), ("child", True), ("sibling", False), ("parent", False)]
)
def test_probe_matrix_for_every_candidate_route(stack, tree, route, role, where, visible):
    units, people = tree
    api = stack.api.as_key(_key(stack, units["own"], role))
    # A transfer stays inside the caller's subtree: child -> own, own -> child
    target = units["own"] if where != "own" else units["child"]
    reply = _call(api, route, people[where], target)
    if role == "integration":
        assert reply.status == 403 and reply.json()["statuscode"] == "403.1"
    elif visible:
        assert reply.status == 200, reply.text
    else:
        assert reply.status == 403 and reply.json()["statuscode"] == "403.2"


@pytest.mark.parametrize("role", ["admin", "support", "integration"])
def test_search_and_results_report_roles(stack, tree, role):
    units, _ = tree
    api = stack.api.as_key(_key(stack, units["own"], role))
    expected = 403 if role == "integration" else 200
    assert api.get("/v1/candidates").status == expected
    assert api.get("/v1/reports/results.xlsx").status == expected
    # A unit filter outside the caller's subtree is refused, not silently emptied
    if role != "integration":
        for where in ("sibling", "parent"):
            reply = api.get("/v1/candidates", query={"org-unit": units[where]})
            assert reply.status == 403 and reply.json()["statuscode"] == "403.2"


def test_support_may_not_touch_keys_units_or_inventory(stack, tree):
    units, _ = tree
    support = stack.api.as_key(_key(stack, units["own"], "support"))
    assert support.post("/v1/api-keys", {"org-unit": units["own"], "role": "admin"}).status == 403
    assert support.get("/v1/api-keys").status == 403
    assert support.post("/v1/org-units", {"name": "X"}).status == 403
    assert support.get("/v1/inventory").status == 403
    assert support.post("/v1/test-ids", {"test-ids": []}).status == 403
    assert support.post("/v1/fulfillments", {"product-code": "GTX-A"}).status == 403


def test_unknown_candidates_are_404(stack):
    reply = stack.api.get("/v1/candidates/cand_00000000000000000000")
    assert (
        reply.status == 404 and reply.description == "candidateId: no candidate 'cand_00000000000000000000'"
    )


# ----------------------------------------------------------------------------------------- update
@pytest.mark.parametrize(
    ("dial", "phone"), [("+62", "0812 3456 7890"), ("0044", "07700 900123"), ("1-684", "+1 (684) 555-0100")]
)
def test_phone_numbers_keep_leading_zeros_and_plus(stack, dial, phone):
    register(stack.api, "tel@example.com")
    cid = all_pages(stack.api, {"email": "tel@example.com"})[0]["id"]
    reply = stack.api.call("PATCH", f"/v1/candidates/{cid}", {"dial-code": dial, "phone": phone})
    assert reply.status == 200, reply.text
    # Then the numbers come back exactly as sent, on the reply, on a read and in the search
    for body in (reply.json(), stack.api.get(f"/v1/candidates/{cid}").json(), all_pages(stack.api, {})[0]):
        assert (body["dial-code"], body["phone"]) == (dial, phone)
    # And changing another field leaves them alone (eTest ETAPI-36: they "turned to 0")
    assert stack.api.call("PATCH", f"/v1/candidates/{cid}", {"full-name": "Tel Person"}).status == 200
    again = stack.api.get(f"/v1/candidates/{cid}").json()
    assert (again["dial-code"], again["phone"], again["full-name"]) == (dial, phone, "Tel Person")


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"phone": 812345}, 'phone: must be a string (send "812345" in quotes'),
        ({"dial-code": 62}, "dial-code: must be a string"),
        ({"phone": "call me"}, "phone: must be a phone number of 3-20 digits"),
        ({"dial-code": "++62"}, "dial-code: must be a dial code such as +62"),
        ({"username": "no spaces"}, "username: must be 1-64 letters"),
        ({"hidden": "maybe"}, "hidden: must be true or false"),
        ({"full-name": None}, "full-name: must not be null"),
        ({"full-name": ""}, "full-name: must not be empty"),
        ({}, "body: give at least one of"),
    ],
)
def test_bad_updates_are_400s_naming_the_field_and_store_nothing(stack, body, description):
    register(stack.api, "bad@example.com")
    cid = all_pages(stack.api, {"email": "bad@example.com"})[0]["id"]
    before = stack.snapshot()
    reply = stack.api.call("PATCH", f"/v1/candidates/{cid}", body)
    assert reply.status == 400 and reply.description.startswith(description), reply.text
    assert stack.snapshot() == before


def test_null_clears_username_and_phone(stack):
    register(stack.api, "clear@example.com")
    cid = all_pages(stack.api, {"email": "clear@example.com"})[0]["id"]
    stack.api.call("PATCH", f"/v1/candidates/{cid}", {"username": "clr", "phone": "0123"})
    reply = stack.api.call("PATCH", f"/v1/candidates/{cid}", {"username": None, "phone": None})
    assert reply.status == 200 and reply.json()["username"] is None and reply.json()["phone"] is None
    assert all_pages(stack.api, {"username": "clr"}) == []


# --------------------------------------------------------------------------------------- transfer
def test_a_transfer_moves_the_candidate_its_invitations_results_and_test_ids(stack, tree):
    units, _ = tree
    api = stack.api
    # Given a candidate of "own" with a completed V2 test and a test ID assigned to it in "own"
    own_admin = stack.api.as_key(_key(stack, units["own"], "admin"))
    own_integration = stack.api.as_key(_key(stack, units["own"], "integration"))
    inv = register(own_integration, "mover@example.com", "Mover", test=9)
    assert post_result(stack, {"TestInvitationId": inv, "Status": "Completed", "TotalScore": 10,
                               "CandidateScore": 7}, form=False).status == 200  # fmt: skip
    api.post("/v1/test-ids", {"org-unit": units["own"], "test-ids": [{"test-id": "T-MOVE", "password": "p",
                                                                      "test-type": "Academic"}]})  # fmt: skip
    taken = own_integration.post(
        "/v1/fulfillments", {"product-code": "GTX-Academic", "email": "mover@example.com"}
    )
    assert taken.status == 201, taken.text
    cid = all_pages(own_admin, {"email": "mover@example.com"})[0]["id"]
    # When the own unit's admin moves it to its child unit
    reply = own_admin.post(f"/v1/candidates/{cid}/transfer", {"org-unit": units["child"]})
    # Then the candidate, its invitation (with its result) and its test ID are in the child unit
    assert reply.status == 200, reply.text
    moved = reply.json()
    assert moved["org-unit"] == units["child"]
    assert [i["org-unit"] for i in moved["invitations"]] == [units["child"]]
    assert moved["invitations"][0]["results"][0]["result"]["CandidateScore"] == 7
    assert [t["test-id"] for t in moved["test-ids"]] == ["T-MOVE"]
    assert api.get("/v1/test-ids/T-MOVE").json()["org-unit"] == units["child"]
    # And the history says who moved it, when, from where to where
    [entry] = [h for h in moved["history"] if h["event"] == "transferred"]
    assert entry["by"] == own_admin.key.split(".")[0] and entry["at"]
    assert entry["detail"] == {"from": units["own"], "to": units["child"]}
    # And a child-unit key now sees the candidate and its invitation; searches follow
    child_admin = stack.api.as_key(_key(stack, units["child"], "admin"))
    assert child_admin.get(f"/v1/candidates/{cid}").status == 200
    assert child_admin.get(f"/v2/invitations/{inv}").status == 200
    assert ids(all_pages(child_admin, {"email": "mover@example.com"})) == [cid]
    assert ids(all_pages(own_admin, {"org-unit": units["child"], "email": "mover@example.com"})) == [cid]
    # And a later registration from the old unit does not move it back
    register(own_integration, "mover@example.com", "Mover Again", test=9)
    assert api.get(f"/v1/candidates/{cid}").json()["org-unit"] == units["child"]
    # And an invitation the old unit registers afterwards stays the old unit's: the child's admin does not
    # see it on the candidate, the old unit's admin does
    new_inv = register(own_integration, "mover@example.com", "Mover Again", test=10)
    child_view = child_admin.get(f"/v1/candidates/{cid}").json()
    assert [i["test-invitation-id"] for i in child_view["invitations"]] == [inv]
    own_view = own_admin.get(f"/v1/candidates/{cid}").json()
    assert sorted(i["test-invitation-id"] for i in own_view["invitations"]) == sorted([inv, new_inv])


def test_a_transfer_outside_the_subtree_or_to_nowhere_is_refused_and_changes_nothing(stack, tree):
    units, people = tree
    own_admin = stack.api.as_key(_key(stack, units["own"], "admin"))
    before = stack.snapshot(ignore=("IdempotencyTable",))
    for target, status in ((units["sibling"], 403), (units["parent"], 403), ("ou_nowhere", 404)):
        reply = own_admin.post(f"/v1/candidates/{people['own']}/transfer", {"org-unit": target})
        assert reply.status == status, reply.text
        assert reply.description.startswith("org-unit:")
    assert stack.snapshot(ignore=("IdempotencyTable",)) == before


# -------------------------------------------------------------------------------- registration source
def test_registration_source_is_recorded_and_searchable(stack):
    api = stack.api
    inv = register(api, "dash@example.com", source="dashboard")
    register(api, "plain@example.com")
    register(api, "lms@example.com", source="Moodle-LMS")
    bad = api.post(
        "/v2/tests/1/register", {"emailId": "x@example.com", "fullName": "X", "source": "no spaces!"}
    )
    assert bad.status == 400 and bad.description.startswith("source:")
    assert [i["email"] for i in all_pages(api, {"source": "dashboard"})] == ["dash@example.com"]
    assert [i["email"] for i in all_pages(api, {"source": "api"})] == ["plain@example.com"]
    assert [i["email"] for i in all_pages(api, {"source": "moodle-lms"})] == ["lms@example.com"]
    cid = all_pages(api, {"email": "dash@example.com"})[0]["id"]
    detail = api.get(f"/v1/candidates/{cid}").json()
    assert detail["source"] == "dashboard"
    assert [(i["test-invitation-id"], i["source"]) for i in detail["invitations"]] == [(inv, "dashboard")]
    # A later registration of the same candidate from elsewhere keeps where it first came from
    register(api, "dash@example.com", test=2, source="import")
    detail = api.get(f"/v1/candidates/{cid}").json()
    assert detail["source"] == "dashboard"
    assert sorted(i["source"] for i in detail["invitations"]) == ["dashboard", "import"]


@pytest.mark.parametrize(
    "query", [{"email-prefix": "p"}, {"name": "person"}, {"email-prefix": "p", "name": "person l"}]
)
def test_a_subtree_admins_text_search_pages_over_its_units_without_repeats_or_gaps(stack, tree, query):
    units, _ = tree
    # Given candidates registered in "own" and its child, and some in the sibling (out of scope)
    apis = {w: stack.api.as_key(_key(stack, units[w], "integration")) for w in ("own", "child", "sibling")}
    originals = set()
    for i in range(9):
        where = ("own", "child", "sibling")[i % 3]
        register(apis[where], f"p{i:02d}@example.com", f"Person late {i}" if i % 2 else f"Person {i}")
        if where != "sibling":
            originals.add(f"p{i:02d}@example.com")
    own_admin = stack.api.as_key(_key(stack, units["own"], "admin"))
    # When its admin pages through a text search, 2 at a time, while more candidates arrive in both units
    seen, cursor, added = [], None, 0
    while True:
        params = {"limit": "2", **query, **({"cursor": cursor} if cursor else {})}
        reply = own_admin.get("/v1/candidates", query=params)
        assert reply.status == 200, reply.text
        page = reply.json()
        seen += [i["email"] for i in page["items"]]
        register(apis[("own", "child")[added % 2]], f"p{60 + added:02d}@example.com", f"Person late x{added}")
        added += 1
        cursor = page["next-cursor"]
        if not cursor or added > 30:
            break
    # Then it sees only its subtree, in order, nothing twice, and everything that was there at the start
    assert len(seen) == len(set(seen))
    if "name" not in query:
        assert seen == sorted(seen)  # in e-mail order, across both units
    expected = {e for e in originals if "name" not in query or query["name"] != "person l" or int(e[1:3]) % 2}
    assert expected <= set(seen)
    assert not any(int(e[1:3]) < 9 and int(e[1:3]) % 3 == 2 for e in seen)  # no sibling candidate


@pytest.mark.parametrize("budget", [1, 2, 3, 7])
def test_a_merged_search_out_of_reading_budget_resumes_exactly_where_it_stopped(stack, tree, budget):
    from gateway import auth, candidates

    units, _ = tree
    apis = {w: stack.api.as_key(_key(stack, units[w], "integration")) for w in ("own", "child")}
    for i in range(12):
        register(apis[("own", "child")[i % 2]], f"m{i:02d}@example.com")
    # Given most of them hidden (a filter that drops most of what a page reads)
    visible = set()
    for item in all_pages(stack.api, {"email-prefix": "m"}):
        if int(item["email"][1:3]) % 4:
            stack.api.call("PATCH", f"/v1/candidates/{item['id']}", {"hidden": True})
        else:
            visible.add(item["email"])
    caller = auth.authenticate({"x-api-key": _key(stack, units["own"], "admin")})
    query = candidates.build_query(caller, candidates.SearchFilters(email_prefix="m"))
    assert isinstance(query, candidates.repo.UnitMerge), query
    # When pages are read with a tiny reading budget, following the cursor each time
    seen, mark, rounds = [], None, 0
    while True:
        rounds += 1
        items, mark, _ = candidates.repo.merge_page(
            query, 2, mark[0] if mark else None, bool(mark and mark[1]), max_read=budget
        )
        seen += [i["email"] for i in items]
        if mark is None or rounds > 100:
            break
    # Then every visible candidate comes exactly once, in order
    assert seen == sorted(visible)


def test_the_profile_shows_the_e_mail_history_with_its_status(stack):
    from tests.integration import mailer

    # Given a candidate invited with "sendEmail": true, and the mailer has run
    register(stack.api, "mailed@example.com", "Mailed Person", sendEmail=True)
    mailer.run_mailer()
    [found] = stack.api.get("/v1/candidates", query={"email": "mailed@example.com"}).json()["items"]
    # When an admin opens the profile
    profile = stack.api.get(f"/v1/candidates/{found['id']}").json()
    # Then the invitation e-mail is in its history, sent, to that address
    [mail] = profile["email-history"]
    assert (mail["template"], mail["status"], mail["email"]) == ("invitation", "sent", "mailed@example.com")
    # And a candidate who was never mailed has an empty history
    register(stack.api, "quiet@example.com", "Quiet Person")
    [quiet] = stack.api.get("/v1/candidates", query={"email": "quiet@example.com"}).json()["items"]
    assert stack.api.get(f"/v1/candidates/{quiet['id']}").json()["email-history"] == []
