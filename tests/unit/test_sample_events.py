"""Sample events (DESIGN.md: one per function, usable with `sam local invoke -e events/<folder>/<file>`).

They live in `events/<the function's CodeUri folder>/`. Each is JSON and of a kind its function is wired to in
template.yaml: an API Gateway proxy event for one of its routes, an SQS event from one of its queues, an S3
notification, a scheduled event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.cfn import FunctionSpec, Template
from local.server import compile_route
from tests.helpers import ROOT, TEMPLATE

EVENTS = ROOT / "events"
_TEMPLATE = Template.load(TEMPLATE)
FUNCTIONS = _TEMPLATE.functions()
ALL_SAMPLES = sorted(EVENTS.rglob("*.json"))


def samples_of(spec: FunctionSpec) -> list[Path]:
    return sorted((EVENTS / spec.code_dir.name).glob("*.json"))


def function_of(sample: Path) -> FunctionSpec:
    owners = [spec for spec in FUNCTIONS.values() if spec.code_dir.name == sample.parent.name]
    assert owners, (
        f"{sample.relative_to(ROOT)}: no function of template.yaml has CodeUri functions/{sample.parent.name}"
    )
    return owners[0]


def kind_of(event: dict[str, Any]) -> str:
    """The template's event type (Api, SQS, S3, Schedule) an event is shaped as."""
    if "httpMethod" in event and "requestContext" in event:
        return "Api"
    if event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events":
        return "Schedule"
    records = event.get("Records") or [{}]
    source = records[0].get("eventSource")
    return {"aws:sqs": "SQS", "aws:s3": "S3"}.get(str(source), f"unknown ({source})")


def _queue_of(source: Any) -> str:
    """The logical id of an SQS event's queue (`!GetAtt Queue.Arn`)."""
    queue = source.raw_properties.get("Queue")
    if isinstance(queue, dict) and "Fn::GetAtt" in queue:
        return str(queue["Fn::GetAtt"][0])
    return str(queue)


def _sources(spec: FunctionSpec) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for kind, sources in _TEMPLATE.event_sources().items():
        for source in sources:
            if source.function_id == spec.logical_id:
                found.setdefault(kind, []).append(source)
    return found


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_of_the_template_has_a_sample_event(function_id):
    # Given a function declared in template.yaml
    spec = FUNCTIONS[function_id]
    # Then events/<its CodeUri folder>/ holds at least one sample event
    assert samples_of(spec), f"{function_id}: no sample event in events/{spec.code_dir.name}/"


def test_there_are_sample_events_and_each_belongs_to_a_function():
    assert len(ALL_SAMPLES) >= len(FUNCTIONS)
    for sample in ALL_SAMPLES:
        assert sample.parent.parent == EVENTS, f"{sample}: events/<function folder>/<name>.json only"
        function_of(sample)


@pytest.mark.parametrize("sample", ALL_SAMPLES, ids=[str(s.relative_to(EVENTS)) for s in ALL_SAMPLES])
def test_each_sample_event_is_json_its_function_is_wired_to_receive(sample):
    # Given a sample event file
    event = json.loads(sample.read_text(encoding="utf-8"))
    spec = function_of(sample)
    sources = _sources(spec)
    # Then it is an event of a kind the template wires to its function
    kind = kind_of(event)
    assert kind in sources, f"{sample.name}: a {kind} event, but {spec.logical_id} has only {sorted(sources)}"
    if kind == "Api":
        # ... for one of the function's own routes, with the path parameters API Gateway would give
        routes = [compile_route(r) for r in _TEMPLATE.api_routes() if r.function_id == spec.logical_id]
        matches = [
            (route, params)
            for route in routes
            if (params := route.match(event["path"])) is not None
            and route.route.method in ("ANY", event["httpMethod"])
        ]
        assert matches, (
            f"{sample.name}: {event['httpMethod']} {event['path']} is not a route of {spec.logical_id}"
        )
        route, params = matches[0]
        assert event["resource"] == route.route.path
        assert (event.get("pathParameters") or {}) == (params or {})
        if event.get("body") is not None and not event.get("isBase64Encoded"):
            assert isinstance(event["body"], str)
    elif kind == "SQS":
        # ... from one of the function's queues, each record's body as SQS hands it over (a string)
        queues = {_queue_of(source) for source in sources["SQS"]}
        for record in event["Records"]:
            assert record["eventSourceARN"].rsplit(":", 1)[-1] in queues, (sample.name, queues)
            assert isinstance(record["body"], str)
            json.loads(record["body"])
