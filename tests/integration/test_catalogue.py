"""The test catalogue: per unit, inherited below unless overridden, validated (plan files too), and enforced
by fulfilment and V2 registration once it applies."""

from __future__ import annotations

import json

import pytest

from gateway import catalogue, catalogue_models
from gateway.errors import InvalidInput
from tests.integration.certification_helpers import PLANS, TEST_TYPES, set_catalogue


def child_unit(stack, name="North Campus", parent=None):
    body = {"name": name} | ({"parent-id": parent} if parent else {})
    reply = stack.api.post("/v1/org-units", body)
    assert reply.status == 201, reply.text
    return reply.json()["id"]


def key_for(stack, unit, role="admin"):
    reply = stack.api.post("/v1/api-keys", {"org-unit": unit, "role": role})
    assert reply.status == 201, reply.text
    return stack.api.as_key(reply.json()["api-key"])


def test_a_catalogue_is_inherited_below_until_a_unit_sets_its_own(stack):
    north = child_unit(stack)
    east = child_unit(stack, "East", parent=north)
    # Given no catalogue anywhere, asking says so
    assert stack.api.get("/v1/catalogue").status == 404
    # When the root sets one
    set_catalogue(stack.api)
    # Then the units below inherit it
    inherited = stack.api.get("/v1/catalogue", query={"org-unit": east}).json()
    assert inherited["inherited"] is True and inherited["source-unit"] == stack.root
    assert [t["name"] for t in inherited["test-types"]] == [t["name"] for t in TEST_TYPES]
    # When North sets its own (one test type), it applies to North and East, the root keeps its own
    set_catalogue(stack.api, north, [TEST_TYPES[0]])
    east_view = stack.api.get("/v1/catalogue", query={"org-unit": east}).json()
    assert east_view["source-unit"] == north and [t["name"] for t in east_view["test-types"]] == [
        "PT-Academic"
    ]
    assert len(stack.api.get("/v1/catalogue").json()["test-types"]) == len(TEST_TYPES)


def test_only_admins_of_the_unit_or_above_read_and_set_it(stack):
    north, south = child_unit(stack), child_unit(stack, "South")
    north_admin = key_for(stack, north)
    assert (
        north_admin.call(
            "PUT", "/v1/catalogue", {"org-unit": south, "plans": PLANS, "test-types": TEST_TYPES}
        ).status
        == 403
    )
    assert north_admin.get("/v1/catalogue", query={"org-unit": stack.root}).status == 403
    support = key_for(stack, north, "support")
    assert support.get("/v1/catalogue").status == 403


@pytest.mark.parametrize(
    ("change", "description"),
    [
        (
            lambda b: b["test-types"][1].pop("level"),
            "test-types[1].level: is required for a certification test",
        ),
        (
            lambda b: b["test-types"][1].pop("pass-mark"),
            "test-types[1].pass-mark: is required for a certification test",
        ),
        (
            lambda b: b["test-types"][2].update(plan="Nursing"),
            "test-types[2].plan: no plan 'Nursing' in plans",
        ),
        (
            lambda b: b["test-types"][4].update(level="C1"),
            "test-types[4].level: plan 'Academic' has no question flow for level C1",
        ),
        (
            lambda b: b["test-types"][3].update(name="PT-Academic"),
            "test-types[3].name: test type 'PT-Academic' appears more than once",
        ),
        (
            lambda b: b["test-types"][2].update({"test-id": 900}),
            "test-types[2].test-id: test id 900 appears more than once",
        ),
        (
            lambda b: b["test-types"][1].update({"pass-mark": 101}),
            "test-types.pass-mark: must be at most 100.0",
        ),
        (
            lambda b: b["test-types"][1].update(kind="exam"),
            "test-types.kind: must be one of 'placement' or 'certification'",
        ),
        (
            lambda b: b["plans"][0]["question-flow"][0]["sections"][0].update(skill="Maths"),
            "plans.question-flow.sections.skill: must be one of 'Grammar', 'Listening', 'Reading', 'Writing' or 'Speaking'",
        ),
    ],
)
def test_a_bad_catalogue_is_a_400_naming_the_field_and_nothing_is_stored(stack, change, description):
    body = json.loads(json.dumps({"plans": PLANS, "test-types": TEST_TYPES}))
    change(body)
    reply = stack.api.call("PUT", "/v1/catalogue", body)
    assert (reply.status, reply.description) == (400, description)
    assert stack.api.get("/v1/catalogue").status == 404


def test_a_plan_file_is_validated_on_load_naming_the_field():
    # A plan file as eTest ships them ("copy the plan.json file to the files directory")
    plan = catalogue_models.load_plan(json.dumps(PLANS[0]))
    assert plan.name == "Academic" and [s.level for s in plan.question_flow] == ["A2", "B1", "B1+"]
    bad = json.loads(json.dumps(PLANS[0]))
    bad["question-flow"][1]["sections"][2]["questions"] = 0
    with pytest.raises(InvalidInput) as error:
        catalogue_models.load_plan(json.dumps(bad))
    assert error.value.description == (
        "question-flow[1].sections[2].questions: Input should be greater than or equal to 1"
    )
    bad = json.loads(json.dumps(PLANS[0]))
    bad["question-flow"].append({"level": "A2", "sections": [{"skill": "Reading", "questions": 3}]})
    with pytest.raises(InvalidInput) as error:
        catalogue_models.load_plan(json.dumps(bad))
    assert error.value.description == "question-flow: level A2 appears more than once"
    with pytest.raises(InvalidInput) as error:
        catalogue_models.load_plan("{not json")
    assert error.value.description == "plan: is not valid JSON"


def test_fulfilment_and_registration_accept_only_catalogue_test_types_once_one_applies(stack):
    stack.api.post(
        "/v1/test-ids",
        {
            "test-ids": [
                {"test-id": "T-1", "password": "p", "test-type": "Academic-Plus"},
                {"test-id": "T-2", "password": "p", "test-type": "Junior"},
                {"test-id": "T-3", "password": "p", "test-type": "Junior"},
            ]
        },
    )
    # Before any catalogue: everything works as before
    assert stack.api.post("/v1/fulfillments", {"product-code": "GTX-Junior"}).status == 201
    assert (
        stack.api.post("/v2/tests/77/register", {"emailId": "a@example.com", "fullName": "A"}).status == 200
    )
    set_catalogue(stack.api)
    catalogue.cache.clear()
    # Then a type outside the catalogue is refused with a 400 naming the field, and nothing is taken
    refused = stack.api.post("/v1/fulfillments", {"product-code": "GTX-Junior"})
    assert refused.status == 400
    assert refused.description == (
        "product-code: unknown product code 'GTX-Junior' (test type Junior is not in the test catalogue of this "
        "organisation unit)"
    )
    assert [stack.api.get(f"/v1/test-ids/{t}").json()["available"] for t in ("T-2", "T-3")].count(True) == 1
    assert stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"}).status == 201
    # And V2 registration takes the catalogue's test ids only
    unknown = stack.api.post("/v2/tests/77/register", {"emailId": "b@example.com", "fullName": "B"})
    assert (unknown.status, unknown.description) == (
        400,
        "testId: test 77 is not in the test catalogue of this organisation unit",
    )
    assert (
        stack.api.post("/v2/tests/901/register", {"emailId": "b@example.com", "fullName": "B"}).status == 200
    )
