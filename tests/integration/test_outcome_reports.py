"""Institutional reports on a generated data set, checked against counts computed by hand here: the "can't
do" statements missed per skill and level (ETAPI-32) and the CT log per level (ETAPI-48), JSON and XLSX."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from gateway import statements
from tests.integration.certification_helpers import (
    object_key_of,
    post_result,
    register,
    s3_object,
    set_catalogue,
    xlsx_rows,
)

CUSTOM = "Can order a meal in a restaurant"  # a statement the catalogue does not know


def key_for(stack, unit, role):
    return stack.api.as_key(
        stack.api.post("/v1/api-keys", {"org-unit": unit, "role": role}).json()["api-key"]
    )


@pytest.fixture
def data_set(stack):
    """~36 results across a small tree (root, north, north/east, south) and four months, some candidates
    taking several tests; returns what was sent, to count from."""
    set_catalogue(stack.api)
    north = stack.api.post("/v1/org-units", {"name": "North"}).json()
    east = stack.api.post("/v1/org-units", {"name": "East", "parent-id": north["id"]}).json()
    south = stack.api.post("/v1/org-units", {"name": "South"}).json()
    units = {
        "root": (stack.root, stack.api),
        "north": (north["id"], key_for(stack, north["id"], "integration")),
        "east": (east["id"], key_for(stack, east["id"], "integration")),
        "south": (south["id"], key_for(stack, south["id"], "integration")),
    }
    rng = random.Random(20260311)
    sent = []
    levels = ["A2", "B1", "B1+"]
    for n in range(36):
        unit = ["root", "north", "east", "south"][n % 4]
        email = f"learner{n % 13}@example.com"  # the same learner takes several tests in a unit
        test_id = rng.choice([900, 901, 902])
        day = f"2026-{rng.choice(['01', '02', '03', '04'])}-{rng.randint(1, 28):02d}"
        spec = []
        for i in range(rng.randint(4, 9)):
            skill = rng.choice(statements.SKILLS)
            level = rng.choice(levels)
            correct = rng.random() < 0.55
            item = {"ItemId": f"q{i}", "Skill": skill, "Level": level, "Correct": correct, "Answer": "x"}
            style = rng.random()
            if style < 0.2:
                item["CanDo"] = CUSTOM
            elif style < 0.6:
                item["CanDo"] = statements.can_do(skill, level)
            spec.append(item)
        _, api = units[unit]
        inv = register(stack, test_id, email, api=api)
        cid = stack.api.get(f"/v2/invitations/{inv}").json()["result"]["candidateId"]
        body = {
            "TestInvitationId": inv,
            "Status": "Completed",
            "AttemptedOn": f"{day}T12:00:00",
            "Items": spec,
        }
        assert post_result(stack, body, form=False).status == 200
        sent.append({"unit": unit, "candidate": cid, "test-id": test_id, "day": day, "items": spec})
    return {"units": units, "sent": sent, "north": north["id"], "south": south["id"]}


def in_scope(entry, since, until):
    return entry["unit"] in ("north", "east") and since <= entry["day"] <= until


def expected_cant_do(sent, since, until):
    who = defaultdict(set)
    for entry in sent:
        if not in_scope(entry, since, until):
            continue
        for item in entry["items"]:
            if not item["Correct"]:
                text = item.get("CanDo") or statements.can_do(item["Skill"], item["Level"])
                who[(item["Skill"], item["Level"], statements.cant_do(text))].add(entry["candidate"])
    return {key: len(c) for key, c in who.items()}


def expected_ct_log(sent, since, until):
    names = {901: ("CT-B1", "B1"), 902: ("CT-B1-Plus", "B1+")}
    log = defaultdict(lambda: {"attempts": 0, "passes": 0, "failures": 0, "incomplete": 0})
    for entry in sent:
        if not in_scope(entry, since, until) or entry["test-id"] not in names:
            continue
        row = log[names[entry["test-id"]]]
        row["attempts"] += 1
        percent = 100.0 * sum(1 for i in entry["items"] if i["Correct"]) / len(entry["items"])
        row["passes" if percent >= 60 else "failures"] += 1
    return dict(log)


def test_cant_do_counts_candidates_per_statement_skill_and_level_in_the_subtree_and_range(stack, data_set):
    since, until = "2026-02-01", "2026-03-31"
    reply = stack.api.get(
        "/v1/reports/cant-do", query={"org-unit": data_set["north"], "from": since, "to": until}
    )
    assert reply.status == 200, reply.text
    report = reply.json()
    got = {(r["skill"], r["level"], r["statement"]): r["candidates"] for r in report["items"]}
    expected = expected_cant_do(data_set["sent"], since, until)
    assert expected and got == expected
    assert any(s == "Can't yet order a meal in a restaurant" for _, _, s in got)
    # in skill order, then level, then most-missed first
    order = [
        (statements.SKILL_RANK[r["skill"]], statements.CEFR_RANK[r["level"]], -r["candidates"])
        for r in report["items"]
    ]
    assert order == sorted(order)
    assert report["candidates"] == len(
        {e["candidate"] for e in data_set["sent"] if in_scope(e, since, until)}
    )
    # and the XLSX holds the same rows
    link = stack.api.get(
        "/v1/reports/cant-do",
        query={"org-unit": data_set["north"], "from": since, "to": until, "format": "xlsx"},
    ).json()
    rows = xlsx_rows(s3_object(object_key_of(link["download-url"])))
    header = rows.index(["Skill", "Level", "Can't do statement", "Candidates"])
    assert {(r[0], r[1], r[2]): r[3] for r in rows[header + 1 :]} == expected
    assert link["rows"] == len(expected) and rows[0][:2] == ["Organisation unit", data_set["north"]]


def test_the_ct_log_counts_attempts_passes_and_failures_per_test_type_and_level(stack, data_set):
    since, until = "2026-01-01", "2026-04-30"
    report = stack.api.get(
        "/v1/reports/ct-log", query={"org-unit": data_set["north"], "from": since, "to": until}
    ).json()
    got = {
        (r["test-type"], r["level"]): {k: r[k] for k in ("attempts", "passes", "failures", "incomplete")}
        for r in report["items"]
    }
    assert got == expected_ct_log(data_set["sent"], since, until)
    assert [r["level"] for r in report["items"]] == sorted(
        (r["level"] for r in report["items"]), key=statements.CEFR_RANK.__getitem__
    )
    link = stack.api.get(
        "/v1/reports/ct-log",
        query={"org-unit": data_set["north"], "from": since, "to": until, "format": "xlsx"},
    ).json()
    rows = xlsx_rows(s3_object(object_key_of(link["download-url"])))
    header = rows.index(["Test type", "Level", "Attempts", "Passes", "Failures", "Incomplete"])
    assert {
        (r[0], r[1]): dict(zip(("attempts", "passes", "failures", "incomplete"), r[2:], strict=True))
        for r in rows[header + 1 :]
    } == got


def test_reports_are_scoped_and_check_their_range(stack, data_set):
    south_admin = key_for(stack, data_set["south"], "support")
    assert south_admin.get("/v1/reports/cant-do", query={"org-unit": data_set["north"]}).status == 403
    assert south_admin.get("/v1/reports/ct-log", query={"org-unit": stack.root}).status == 403
    # the default is the caller's own unit: South sees South's tests only
    report = south_admin.get("/v1/reports/ct-log", query={"from": "2026-01-01", "to": "2026-04-30"}).json()
    assert sum(r["attempts"] for r in report["items"]) == sum(
        1 for e in data_set["sent"] if e["unit"] == "south" and e["test-id"] in (901, 902)
    )
    bad = stack.api.get("/v1/reports/cant-do", query={"from": "2026-13-01"})
    assert (bad.status, bad.description) == (400, "from: must be a date YYYY-MM-DD (got '2026-13-01')")
    backwards = stack.api.get("/v1/reports/cant-do", query={"from": "2026-03-01", "to": "2026-02-01"})
    assert (backwards.status, backwards.description) == (400, "from: must not be after to (2026-02-01)")
    assert stack.api.get("/v1/reports/cant-do", query={"format": "pdf"}).status == 400
