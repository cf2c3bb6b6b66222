"""Outcome rules as pure functions: scores, pass / fail against the pass mark, the next level of the package,
can't-do statements, review lists, placement and the order of the areas for improvement."""

from __future__ import annotations

import pytest

from gateway import outcomes, results, statements
from gateway.catalogue_models import Catalogue, CatalogueRequest, check
from tests.integration.certification_helpers import PLANS, TEST_TYPES

CATALOGUE = Catalogue(
    "ou_x",
    tuple(CatalogueRequest.model_validate({"plans": PLANS, "test-types": TEST_TYPES}).plans),
    tuple(CatalogueRequest.model_validate({"plans": PLANS, "test-types": TEST_TYPES}).test_types),
)


def v2(**fields):
    return results.validate({"TestInvitationId": 5, "Status": "Completed", **fields})


def item(n, skill, level, correct, **extra):
    return {"ItemId": f"i{n}", "Skill": skill, "Level": level, "Correct": correct, **extra}


def test_cant_do_turns_a_can_do_statement_round():
    assert statements.cant_do("Can read a menu.") == "Can't yet read a menu"
    assert statements.cant_do("Orders a meal") == "Can't yet: Orders a meal"
    assert all(
        statements.can_do(s, lv).startswith("Can ") for s in statements.SKILLS for lv in statements.CEFR
    )


def test_the_score_comes_from_the_scores_then_the_items_then_the_sections():
    assert outcomes.score_percent(v2(TotalScore=50, CandidateScore=34)) == 68.0
    assert (
        outcomes.score_percent(v2(Items=[item(1, "Reading", "B1", True), item(2, "Reading", "B1", 0)]))
        == 50.0
    )
    assert (
        outcomes.score_percent(
            results.validate(
                {"TestID": "T", "Status": "Completed", "Reading_Percent": "80", "Writing_Percent": 60}
            )
        )
        == 70.0
    )


@pytest.mark.parametrize(("score", "expected"), [(59, "failed"), (60, "passed"), (100, "passed")])
def test_a_ct_passes_at_the_pass_mark(score, expected):
    decided = outcomes.decide(v2(TotalScore=100, CandidateScore=score), CATALOGUE.by_name("CT-B1"), CATALOGUE)
    assert decided["outcome"] == expected


def test_a_pass_continues_at_the_next_level_of_the_plan_and_the_top_level_ends_the_package():
    b1 = outcomes.decide(v2(TotalScore=10, CandidateScore=9), CATALOGUE.by_name("CT-B1"), CATALOGUE)
    assert (b1["continue"], b1["next-level"], b1["next-test-type"]) == (True, "B1+", "CT-B1-Plus")
    top = outcomes.decide(v2(TotalScore=10, CandidateScore=9), CATALOGUE.by_name("CT-B1-Plus"), CATALOGUE)
    assert (top["continue"], top["next-level"]) == (False, None)


def test_a_fail_without_items_names_the_weak_skills_of_the_level():
    result = results.validate(
        {
            "TestID": "T",
            "Status": "Completed",
            "Grammar_Percent": 40,
            "Reading_Percent": 90,
            "Listening_Percent": 30,
        }
    )
    decided = outcomes.decide(result, CATALOGUE.by_name("CT-A2"), CATALOGUE)
    assert decided["outcome"] == "failed"
    assert decided["review"] == [statements.review("Listening", "A2"), statements.review("Grammar", "A2")]
    assert decided["cant-do"] == [
        statements.cant_do(statements.can_do("Listening", "A2")),
        statements.cant_do(statements.can_do("Grammar", "A2")),
    ]


def test_missed_statements_are_unique_and_ordered_by_skill_level_and_text():
    result = v2(
        Items=[
            item(1, "Reading", "B1", 0),
            item(2, "Grammar", "B2", 0),
            item(3, "Grammar", "A2", 0),
            item(4, "Reading", "B1", 0),
            item(5, "Reading", "B1", 1, CanDo="Can skim"),
        ]
    )
    assert [(m["skill"], m["level"]) for m in outcomes.missed(result)] == [
        ("Grammar", "A2"),
        ("Grammar", "B2"),
        ("Reading", "B1"),
    ]


def test_areas_for_improvement_keep_one_order_whatever_order_the_sections_come_in():
    base = {"TestID": "T", "Status": "Completed", "Overall_cefr": "B2"}
    sections = {
        "Grammar": ("B1", 70),
        "Listening": ("B1", 55),
        "Reading": ("B2", 50),
        "Writing": ("B1", 55),
        "Speaking": ("C1", 95),
    }
    orders = set()
    for rotation in range(5):
        names = list(sections)[rotation:] + list(sections)[:rotation]
        raw = dict(base)
        for name in names:
            raw[f"{name}_cefr"], raw[f"{name}_Percent"] = sections[name]
        decided = outcomes.decide(results.validate(raw), CATALOGUE.by_name("Academic-Plus"), CATALOGUE)
        orders.add(tuple(a["skill"] for a in decided["areas"]))
    # below B2 first (weakest percent first, ties in skill order), then B2 skills under 60 %
    assert orders == {("Listening", "Writing", "Grammar", "Reading")}


def test_placement_rules_pick_the_highest_reached():
    pt = CATALOGUE.by_name("PT-Academic")
    assert outcomes.decide(v2(TotalScore=100, CandidateScore=39), pt, CATALOGUE)["level"] == "A1"
    assert outcomes.decide(v2(TotalScore=100, CandidateScore=70), pt, CATALOGUE)["level"] == "B1"
    assert outcomes.decide(v2(TotalScore=None), pt, CATALOGUE)["outcome"] == "incomplete"


def test_items_are_validated_naming_the_item_and_field():
    with pytest.raises(results.InvalidInput) as error:
        v2(Items=[item(1, "Reading", "B1", 1), item(2, "Cooking", "B1", 1)])
    assert error.value.description == (
        "Items[1].Skill: must be one of Grammar, Listening, Reading, Writing, Speaking (got 'Cooking')"
    )
    with pytest.raises(results.InvalidInput) as error:
        v2(Items=[item(1, "Reading", "B1", "maybe")])
    assert error.value.description == "Items[0].Correct: must be true or false (or 1 / 0)"
    with pytest.raises(results.InvalidInput) as error:
        v2(Items="all of them")
    assert error.value.description == "Items: must be a list of items"


def test_the_example_catalogue_is_consistent():
    check(CatalogueRequest.model_validate({"plans": PLANS, "test-types": TEST_TYPES}))
