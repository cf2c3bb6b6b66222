"""What a result means for the candidate (issue 8): a certification test (CT) is passed or failed against its
pass mark, a placement test (PT) places at a level. Pure functions of the result and the catalogue entry.

- Score: V2 CandidateScore / TotalScore; else the items (correct / all); else the mean of the section
  percents the engine sent.
- CT: `passed` when the score reaches the pass mark, `failed` below it, `incomplete` without a score. A pass
  continues the package at the plan's next CT level (ETAPI-15); a fail lists the "can't do" statements of
  the missed items (ETAPI-52) and a curated review list of the skills to work on (ETAPI-53).
- PT: the level of the plan's placement rules (highest `min-percent` reached), else the overall CEFR the
  engine sent; the areas for improvement are the skills below the placed level or under 60 %, weakest
  first, ties in the fixed skill order (ETAPI-41: always the same order).
"""

from __future__ import annotations

import re
from typing import Any

from gateway import statements
from gateway.catalogue_models import Catalogue, TestType
from gateway.results import Result
from gateway.statements import CEFR_RANK, SKILL_RANK, SKILLS

WEAK_PERCENT = 60.0


def score_percent(result: Result) -> float | None:
    fields = result.fields
    if result.kind == "v2" and fields.get("TotalScore") and fields.get("CandidateScore") is not None:
        return round(100.0 * float(fields["CandidateScore"]) / float(fields["TotalScore"]), 2)
    items = result.items
    if items:
        return round(100.0 * sum(1 for i in items if i["Correct"]) / len(items), 2)
    percents = [float(fields[f"{s}_Percent"]) for s in SKILLS if fields.get(f"{s}_Percent") is not None]
    if percents:
        return round(sum(percents) / len(percents), 2)
    return None


def skills(result: Result) -> dict[str, dict[str, Any]]:
    """Per skill: level, CEFR and percent as the engine sent them, else computed from the items."""
    fields = result.fields
    by_skill: dict[str, dict[str, Any]] = {}
    for skill in SKILLS:
        entry = {
            "level": fields.get(f"{skill}_Level"),
            "cefr": fields.get(f"{skill}_cefr"),
            "percent": fields.get(f"{skill}_Percent"),
        }
        of_skill = [i for i in result.items or [] if i["Skill"] == skill]
        if of_skill:
            correct = sum(1 for i in of_skill if i["Correct"])
            entry["items"], entry["correct"] = len(of_skill), correct
            if entry["percent"] is None:
                entry["percent"] = round(100.0 * correct / len(of_skill), 1)
        if any(v is not None for v in entry.values()):
            by_skill[skill] = entry
    return by_skill


def cant_do_of(item: dict[str, Any]) -> str:
    return statements.cant_do(item.get("CanDo") or statements.can_do(item["Skill"], item["Level"]))


def missed(result: Result) -> list[dict[str, str]]:
    """The "can't do" statements of the missed items: one per statement, in skill, level, text order."""
    seen: dict[tuple[str, str, str], dict[str, str]] = {}
    for item in result.items or []:
        if item["Correct"]:
            continue
        statement = cant_do_of(item)
        seen.setdefault(
            (item["Skill"], item["Level"], statement),
            {"skill": item["Skill"], "level": item["Level"], "statement": statement},
        )
    return [seen[k] for k in sorted(seen, key=lambda k: (SKILL_RANK[k[0]], CEFR_RANK[k[1]], k[2]))]


def test_date(result: Result, received_at: str) -> str:
    """The day the test was taken (ISO), as the engine says, else the day the result arrived."""
    fields = result.fields
    if fields.get("TestYear"):
        return f"{fields['TestYear']:04d}-{fields['TestMonth']:02d}-{fields['TestDay']:02d}"
    attempted = str(fields.get("AttemptedOn") or "")
    if re.match(r"^\d{4}-\d{2}-\d{2}", attempted):
        return attempted[:10]
    return received_at[:10]


def _review(result: Result, level: str, pass_mark: float, failed_skills: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for item in result.items or []:
        if not item["Correct"]:
            counts[item["Skill"]] = counts.get(item["Skill"], 0) + 1
    order = sorted(counts, key=lambda s: (-counts[s], SKILL_RANK[s])) if counts else failed_skills
    return [statements.review(skill, level) for skill in order]


def certification(result: Result, test: TestType, catalogue: Catalogue) -> dict[str, Any]:
    level = test.level or "Pre-A1"
    pass_mark = float(test.pass_mark or 0)
    outcome: dict[str, Any] = {
        "kind": "certification",
        "test-type": test.name,
        "plan": test.plan,
        "level": level,
        "cefr": result.fields.get("Overall_cefr") or level,
        "pass-mark": pass_mark,
        "missed": missed(result),
    }
    score = None if result.incomplete else score_percent(result)
    outcome["score-percent"] = score
    if score is None:
        return outcome | {"outcome": "incomplete", "continue": False, "cant-do": [], "review": []}
    if score >= pass_mark:
        following = catalogue.next_level(test)
        return outcome | {
            "outcome": "passed",
            "continue": following is not None,
            "next-level": following.level if following else None,
            "next-test-type": following.name if following else None,
            "cant-do": [],
            "review": [],
        }
    by_skill = skills(result)
    weak = sorted(
        (s for s, e in by_skill.items() if e.get("percent") is not None and float(e["percent"]) < pass_mark),
        key=lambda s: (float(by_skill[s]["percent"]), SKILL_RANK[s]),
    )
    cant = [m["statement"] for m in outcome["missed"]]
    if not cant:  # no items: the level's statement of each skill under the pass mark
        cant = [statements.cant_do(statements.can_do(s, level)) for s in weak]
    if not weak and not result.items:
        plan = catalogue.plan(test.plan)
        flow = next((f for f in plan.question_flow if f.level == level), None) if plan else None
        weak = [s.skill for s in flow.sections] if flow else list(SKILLS)
    return outcome | {
        "outcome": "failed",
        "continue": False,
        "next-level": None,
        "next-test-type": None,
        "cant-do": cant,
        "review": _review(result, level, pass_mark, weak),
    }


def placement(result: Result, test: TestType, catalogue: Catalogue) -> dict[str, Any]:
    score = None if result.incomplete else score_percent(result)
    plan = catalogue.plan(test.plan)
    level: str | None = None
    if score is not None and plan and plan.placement_rules:
        reached = [r for r in plan.placement_rules if score >= r.min_percent]
        if reached:
            level = max(reached, key=lambda r: r.min_percent).level
    if level is None and not result.incomplete:
        level = result.fields.get("Overall_cefr")
    outcome: dict[str, Any] = {
        "kind": "placement",
        "test-type": test.name,
        "plan": test.plan,
        "score-percent": score,
        "missed": missed(result),
    }
    if level is None:
        return outcome | {"outcome": "incomplete", "level": None, "cefr": None, "areas": []}
    areas: list[dict[str, Any]] = []
    for skill, entry in skills(result).items():
        cefr, percent = entry.get("cefr"), entry.get("percent")
        below = cefr is not None and CEFR_RANK[cefr] < CEFR_RANK[level]
        weak = percent is not None and float(percent) < WEAK_PERCENT
        if below or weak:
            areas.append(
                {
                    "skill": skill,
                    "cefr": cefr,
                    "percent": percent,
                    "review": statements.review(skill, cefr or level),
                }
            )
    areas.sort(
        key=lambda a: (
            CEFR_RANK[str(a["cefr"] or level)],
            float(a["percent"]) if a["percent"] is not None else 100.0,
            SKILL_RANK[a["skill"]],
        )
    )
    return outcome | {"outcome": "placed", "level": level, "cefr": level, "areas": areas}


def decide(result: Result, test: TestType, catalogue: Catalogue) -> dict[str, Any]:
    if test.kind == "certification":
        return certification(result, test, catalogue)
    return placement(result, test, catalogue)
