"""The test catalogue's models (issue 8): test types with their kind, level, plan and pass mark, and the
plans they belong to with each plan's question flow (eTest ETAPI-31: "mapping question flow based on the
certificate plan"; a plan is a JSON file, validated on load), the rules a catalogue must keep, the resolved
Catalogue the outcomes read, and GET / PUT /v1/catalogue. Resolution and the checks fulfilment and
registration make live in gateway.catalogue (no pydantic there: the API functions' cold starts stay cheap).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from gateway.auth import Caller
from gateway.catalogue import cache, record_for
from gateway.contracts import Kebab
from gateway.errors import InvalidInput, NotFound
from gateway.repo import catalogue as repo
from gateway.repo import now_iso
from gateway.statements import CEFR, CEFR_RANK, SKILLS

Cefr = Literal["Pre-A1", "A1", "A1+", "A2", "A2+", "B1", "B1+", "B2", "B2+", "C1", "C2"]
Skill = Literal["Grammar", "Listening", "Reading", "Writing", "Speaking"]
Name = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class Section(Kebab):
    skill: Skill
    questions: int = Field(ge=1, le=200, description="Number of questions of this section.")


class FlowStep(Kebab):
    """The questions of one CT level: sections in order (question numbers run on across sections)."""

    level: Cefr
    sections: list[Section] = Field(min_length=1, max_length=10)


class PlacementRule(Kebab):
    """A placement test scoring at least `min-percent` places at `level` (the highest rule met wins)."""

    min_percent: float = Field(alias="min-percent", ge=0, le=100)
    level: Cefr


class Plan(Kebab):
    """A plan file (JSON): its name, the question flow per level, optional placement rules."""

    name: str = Name
    question_flow: list[FlowStep] = Field(alias="question-flow", min_length=1, max_length=len(CEFR))
    placement_rules: list[PlacementRule] = Field(default_factory=list, alias="placement-rules", max_length=20)

    @field_validator("question_flow")
    @classmethod
    def _levels_once(cls, steps: list[FlowStep]) -> list[FlowStep]:
        seen = [s.level for s in steps]
        for level in seen:
            if seen.count(level) > 1:
                raise ValueError(f"level {level} appears more than once")
        return steps


class TestType(Kebab):
    name: str = Name
    test_id: int | None = Field(
        default=None, alias="test-id", ge=1, le=2**63 - 1, description="The V2 testId of this test type."
    )
    kind: Literal["placement", "certification"]
    level: Cefr | None = Field(default=None, description="The course level a certification test certifies.")
    plan: str = Field(min_length=1, max_length=63)
    pass_mark: float | None = Field(default=None, alias="pass-mark", ge=0, le=100, description="Percent.")


class CatalogueRequest(Kebab):
    org_unit: str | None = Field(default=None, alias="org-unit", max_length=64)
    plans: list[Plan] = Field(min_length=1, max_length=20)
    test_types: list[TestType] = Field(alias="test-types", min_length=1, max_length=200)


class CatalogueView(Kebab):
    org_unit: str = Field(alias="org-unit", description="The unit asked about.")
    source_unit: str | None = Field(alias="source-unit", description="The unit whose catalogue applies.")
    inherited: bool
    plans: list[Plan]
    test_types: list[TestType] = Field(alias="test-types")
    updated_at: str | None = Field(default=None, alias="updated-at")


# ------------------------------------------------------------------------------------------ loading
def _location(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "plan"


def describe(exc: ValidationError, prefix: str = "") -> str:
    error = exc.errors()[0]
    loc = _location(error.get("loc", ()))
    where = f"{prefix}{'.' if prefix and loc else ''}{loc}" if loc != "plan" or not prefix else prefix
    kind = error.get("type", "")
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if kind == "missing":
        message = "is required"
    elif kind == "literal_error":
        message = f"must be one of {error.get('ctx', {}).get('expected', '')}"
    return f"{where}: {message}"


def load_plan(text: str | bytes) -> Plan:
    """A plan file's content, validated (400 naming the field, e.g. question-flow[0].sections[1].skill)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("plan", "is not valid JSON") from exc
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(*describe(exc).split(": ", 1)) from exc


def check(request: CatalogueRequest) -> None:
    """What a catalogue must hold together (400 naming the entry): unique names and test ids, known plans,
    and a level, a pass mark and a question flow for that level for each certification test."""
    plans: dict[str, Plan] = {p.name: p for p in request.plans}
    for n, plan in enumerate(request.plans):
        if [p.name for p in request.plans].count(plan.name) > 1:
            raise InvalidInput(f"plans[{n}].name", f"plan '{plan.name}' appears more than once")
    names: set[str] = set()
    ids: set[int] = set()
    for n, test in enumerate(request.test_types):
        where = f"test-types[{n}]"
        if test.name.casefold() in names:
            raise InvalidInput(f"{where}.name", f"test type '{test.name}' appears more than once")
        names.add(test.name.casefold())
        if test.test_id is not None:
            if test.test_id in ids:
                raise InvalidInput(f"{where}.test-id", f"test id {test.test_id} appears more than once")
            ids.add(test.test_id)
        if test.plan not in plans:
            raise InvalidInput(f"{where}.plan", f"no plan '{test.plan}' in plans")
        plan = plans[test.plan]
        if test.kind == "certification":
            if test.level is None:
                raise InvalidInput(f"{where}.level", "is required for a certification test")
            if test.pass_mark is None:
                raise InvalidInput(f"{where}.pass-mark", "is required for a certification test")
            if test.level not in {s.level for s in plan.question_flow}:
                raise InvalidInput(
                    f"{where}.level", f"plan '{plan.name}' has no question flow for level {test.level}"
                )


# ------------------------------------------------------------------------------------------ resolved
@dataclass(frozen=True)
class Catalogue:
    unit_id: str  # the unit whose catalogue this is
    plans: tuple[Plan, ...]
    test_types: tuple[TestType, ...]
    updated_at: str | None = None

    def by_name(self, name: str) -> TestType | None:
        return next((t for t in self.test_types if t.name.casefold() == name.casefold()), None)

    def by_test_id(self, test_id: int) -> TestType | None:
        return next((t for t in self.test_types if t.test_id == test_id), None)

    def plan(self, name: str) -> Plan | None:
        return next((p for p in self.plans if p.name == name), None)

    def next_level(self, test: TestType) -> TestType | None:
        """The certification test of the next level of the same plan (the package goes on), if any."""
        if test.level is None:
            return None
        higher = [
            t
            for t in self.test_types
            if t.kind == "certification"
            and t.plan == test.plan
            and t.level is not None
            and CEFR_RANK[t.level] > CEFR_RANK[test.level]
        ]
        return min(higher, key=lambda t: (CEFR_RANK[t.level or "C2"], t.name), default=None)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Catalogue:
        return cls(
            unit_id=record["unit_id"],
            plans=tuple(Plan.model_validate(p) for p in record.get("plans", [])),
            test_types=tuple(TestType.model_validate(t) for t in record.get("test_types", [])),
            updated_at=record.get("updated_at"),
        )


# ------------------------------------------------------------------------------------------ the API
def view(caller: Caller, unit_id: str | None) -> CatalogueView:
    from gateway import orgs

    unit = orgs.unit_in_scope(caller, unit_id or caller.unit_id, "org-unit")
    cache.clear()
    record = record_for(unit.path)
    catalogue = Catalogue.from_record(record) if record else None
    if catalogue is None:
        raise NotFound(f"org-unit: no test catalogue applies to '{unit.id}' (PUT /v1/catalogue sets one)")
    return CatalogueView(
        org_unit=unit.id,
        source_unit=catalogue.unit_id,
        inherited=catalogue.unit_id != unit.id,
        plans=list(catalogue.plans),
        test_types=list(catalogue.test_types),
        updated_at=catalogue.updated_at,
    )


def save(caller: Caller, request: CatalogueRequest) -> CatalogueView:
    from gateway import orgs

    unit = orgs.unit_in_scope(caller, request.org_unit or caller.unit_id, "org-unit")
    check(request)
    now = now_iso()
    repo.put(
        unit.id,
        {
            "unit_id": unit.id,
            "unit_path": unit.path,
            "plans": [p.model_dump(by_alias=True) for p in request.plans],
            "test_types": [t.model_dump(by_alias=True, exclude_none=True) for t in request.test_types],
            "updated_at": now,
            "updated_by": caller.key_id,
        },
    )
    cache.clear()
    return CatalogueView(
        org_unit=unit.id,
        source_unit=unit.id,
        inherited=False,
        plans=request.plans,
        test_types=request.test_types,
        updated_at=now,
    )


__all__ = ["CEFR", "SKILLS", "Catalogue", "CatalogueRequest", "Plan", "TestType"]
