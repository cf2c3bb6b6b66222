"""Schemathesis against the local stack: every documented operation, positive and negative cases.

Each case is sent with the demo (root admin) key; `POST /v1/results` is signed with the engine's secret
the way the engine signs it (`x-timestamp`, `x-signature` over the raw body as sent). Three checks run on
every reply: no 5xx (`not_a_server_error`), the status code is one the document declares for the
operation, and the body conforms to the schema the document gives for that status.

The run is reproducible (`derandomize`, no example database) and bounded: MAX_EXAMPLES per operation
and mode; the test counts the cases it sent and requires at least MIN_CASES in all.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from gateway import signing

MAX_EXAMPLES = 20
MIN_CASES = 500
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
ENGINE_SIGNED = {("POST", "/v1/results")}


class EngineSignature(requests.auth.AuthBase):
    """Signs the request as prepared (the bytes sent) with the engine's secret, as the engine does."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        timestamp = str(int(time.time()))
        request.headers["x-timestamp"] = timestamp
        request.headers["x-signature"] = signing.sign(self.secret, timestamp, raw)
        return request


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(strategy, send):
    """A hypothesis test sending every case `strategy` generates (reproducible: derandomized)."""

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(label, signed, case):
        send(case, label, signed)

    return run


@pytest.mark.timeout(900)
def test_every_documented_operation_survives_the_fuzzer(local_stack):
    # Given the document the stack serves and the demo admin key
    schema = schemathesis.openapi.from_url(local_stack.base_url + "/openapi.json")
    operations = _operations(schema)
    session = requests.Session()
    engine_auth = EngineSignature(local_stack.engine_secret)
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    by_operation: dict[str, Counter[int]] = defaultdict(Counter)
    failures: list[str] = []

    def send(case, label, signed):
        # When each generated case is sent (signed where the route wants a signature)
        headers = {} if signed else {"x-api-key": local_stack.admin_key}
        kwargs = {"auth": engine_auth} if signed else {}
        response = case.call(
            base_url=local_stack.base_url, session=session, headers=headers, timeout=30, **kwargs
        )
        sent[label] += 1
        statuses[response.status_code] += 1
        by_operation[label][response.status_code] += 1
        # Then the reply is no server error and conforms to the document
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except AssertionError as exc:
            failures.append(f"{label}: {exc}".splitlines()[0][:2000])
            raise

    started = time.monotonic()
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        signed = (operation.method.upper(), operation.path) in ENGINE_SIGNED
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _fuzz(operation.as_strategy(generation_mode=mode), send)
            try:
                run(label, signed)
            except Exception as exc:  # collect every operation's failure, then report them together
                failures.append(f"{label} ({mode}): {type(exc).__name__}: {str(exc)[:3000]}")
    elapsed = time.monotonic() - started

    total = sum(sent.values())
    print(f"\nfuzz: {total} cases over {len(sent)} operations in {elapsed:.1f} s; statuses {dict(statuses)}")
    for label, counts in sorted(by_operation.items()):
        print(f"  {label}: {dict(counts)}")
    assert not failures, "\n\n".join(failures)
    assert {f"{o.method.upper()} {o.path}" for o in operations} == set(sent), "an operation was never fuzzed"
    assert total >= MIN_CASES, f"only {total} cases generated"
