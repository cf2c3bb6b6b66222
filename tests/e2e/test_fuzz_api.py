"""Schemathesis against the local stack: every documented operation, positive and negative cases.

Each case is sent with the demo (root admin) key; `POST /v1/results` is signed with the engine's secret
the way the engine signs it (`x-timestamp`, `x-signature` over the raw body as sent). Three checks run on
every reply: no 5xx (`not_a_server_error`), the status code is one the document declares for the
operation, and the body conforms to the schema the document gives for that status.

Three passes per operation: positive cases (valid by the document), negative cases (invalid on purpose)
and seeded positive cases, pointed at real test IDs, a real invitation and candidate and a product code
in stock, so generated requests get past the lookups into the code behind them. The run is reproducible
(`derandomize`, no example database) and bounded: MAX_EXAMPLES per operation and pass; the test counts
the cases it sent and requires at least MIN_CASES in all.
"""

from __future__ import annotations

import hashlib
import re
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


class Signature(requests.auth.AuthBase):
    """Signs the request as prepared (the bytes sent): the engine with its secret, a tenant with its key's
    signing secret (and the key id in x-api-key). The signature covers timestamp and body only (the seed's
    scheme), so each (timestamp, body) is used once: identical generated cases are not replays."""

    def __init__(self, secret: str, key_id: str | None = None, fallback_key: str | None = None) -> None:
        self.secret = secret
        self.key_id = key_id
        self.fallback_key = fallback_key  # a plain key for when a body has used up every second of the window
        self.used: set[tuple[int, bytes]] = set()

    def _timestamp(self, raw: bytes) -> str | None:
        """A timestamp inside the window that this body has not been signed with yet."""
        now = int(time.time())
        digest = hashlib.sha256(raw).digest()
        for stamp in range(now - 280, now + 280):
            if (stamp, digest) not in self.used:
                self.used.add((stamp, digest))
                return str(stamp)
        if self.fallback_key is None:
            raise AssertionError("more identical bodies than the signature window has seconds")
        return None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        timestamp = self._timestamp(raw)
        if timestamp is None:  # (empty GET bodies, mostly) sent with the plain key instead
            request.headers["x-api-key"] = str(self.fallback_key)
            return request
        if self.key_id is not None:
            request.headers["x-api-key"] = self.key_id
        request.headers["x-timestamp"] = timestamp
        request.headers["x-signature"] = signing.sign(self.secret, timestamp, raw)
        return request


def _description(response) -> str:
    try:
        return str(response.json().get("description", ""))[:90]
    except Exception:  # not JSON: the checks report it
        return "(not JSON)"


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def _seed(base_url: str, session: requests.Session, admin_key: str) -> dict[str, str]:
    """Real things for the seeded pass to point at: test IDs of type Fuzz, a registered candidate."""
    headers = {"x-api-key": admin_key}
    ids = [{"test-id": f"FZ{n:04d}", "password": "pw", "test-type": "Fuzz"} for n in range(300)]
    assert session.post(f"{base_url}/v1/test-ids", json={"test-ids": ids}, headers=headers, timeout=30).ok
    registered = session.post(
        f"{base_url}/v2/tests/4242/register",
        json={"emailId": "fuzz.candidate@example.com", "fullName": "Fuzz Candidate"},
        headers=headers,
        timeout=30,
    ).json()["result"]
    invitation = str(registered["testInvitationId"])
    candidate = session.get(f"{base_url}/v2/invitations/{invitation}", headers=headers, timeout=30).json()
    return {
        "testId": "FZ0000",
        "testInvitationId": invitation,
        "id": candidate["result"]["candidateId"],
        "candidateId": candidate["result"]["candidateId"],
        "product-code": "GTX-Fuzz",
    }


def _seeded(case, seeds: dict[str, str]):
    """A positive case pointed at real things: path parameters and the fields that name what the request
    acts on, so the rest of the generated request reaches the code behind the lookups."""
    for name in list(case.path_parameters or {}):
        if name in seeds:
            case.path_parameters[name] = seeds[name]
    if isinstance(case.body, dict):
        if "product-code" in case.body or case.operation.path == "/v1/fulfillments":
            case.body["product-code"] = seeds["product-code"]
        if "TestID" in case.body:
            case.body["TestID"] = seeds["testId"]
        if "TestInvitationId" in case.body:
            case.body["TestInvitationId"] = int(seeds["testInvitationId"])
    return case


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
    # Given the document the stack serves and an admin key of a unit of the fuzzer's own: what it sets (a test
    # catalogue, notification settings, thresholds...) binds that unit's subtree, not the root the other tests
    # of this shared stack use
    schema = schemathesis.openapi.from_url(local_stack.base_url + "/openapi.json")
    operations = _operations(schema)
    session = requests.Session()
    engine_auth = Signature(local_stack.engine_secret)
    root = {"x-api-key": local_stack.admin_key}
    unit = session.post(
        local_stack.base_url + "/v1/org-units", json={"name": "Fuzzing ground"}, headers=root, timeout=30
    ).json()["id"]

    def admin_key(name):
        return session.post(
            local_stack.base_url + "/v1/api-keys",
            json={"org-unit": unit, "role": "admin", "name": name},
            headers=root,
            timeout=30,
        ).json()

    fuzz_key = admin_key("fuzzer")["api-key"]
    # A second admin key of that unit, used signed (x-api-key: key id, x-timestamp, x-signature) for every other
    # case
    created = admin_key("fuzz signer")
    tenant_auth = Signature(created["signing-secret"], created["key-id"], fuzz_key)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    by_operation: dict[str, Counter[int]] = defaultdict(Counter)
    failures: list[str] = []

    def send(case, label, signed):
        # When each generated case is sent (signed where the route wants a signature)
        headers = {} if signed else {"x-api-key": fuzz_key}
        kwargs = {"auth": engine_auth} if signed else {}
        if not signed and sent[label] % 2:
            kwargs = {"auth": tenant_auth}
        response = case.call(
            base_url=local_stack.base_url, session=session, headers=headers, timeout=30, **kwargs
        )
        sent[label] += 1
        statuses[response.status_code] += 1
        by_operation[label][response.status_code] += 1
        if response.status_code in (400, 401):
            reasons[label][_description(response)] += 1
        # Then the reply is no server error and conforms to the document
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except AssertionError as exc:
            failures.append(f"{label}: {exc}".splitlines()[0][:2000])
            raise

    seeds = _seed(local_stack.base_url, session, fuzz_key)
    started = time.monotonic()
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        signed = (operation.method.upper(), operation.path) in ENGINE_SIGNED
        for mode in ("positive", "negative", "seeded"):
            if mode == "seeded":
                strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE).map(
                    lambda case: _seeded(case, seeds)
                )
            else:
                strategy = operation.as_strategy(generation_mode=GenerationMode(mode))
            run = _fuzz(strategy, send)
            try:
                run(label, signed)
            except Exception as exc:  # collect every operation's failure, then report them together
                failures.append(f"{label} ({mode}): {type(exc).__name__}: {str(exc)[:3000]}")
    elapsed = time.monotonic() - started

    total = sum(sent.values())
    print(f"\nfuzz: {total} cases over {len(sent)} operations in {elapsed:.1f} s; statuses {dict(statuses)}")
    for label, counts in sorted(by_operation.items()):
        print(f"  {label}: {dict(counts)}")
        for reason, n in reasons[label].most_common(4):
            print(f"      {n:3d} x {reason}")
    assert not failures, "\n\n".join(failures)
    assert {f"{o.method.upper()} {o.path}" for o in operations} == set(sent), "an operation was never fuzzed"
    assert total >= MIN_CASES, f"only {total} cases generated"


def test_every_method_the_document_does_not_declare_is_refused_in_the_envelope(local_stack):
    # Given every path of the document, with concrete path parameters
    document = requests.get(local_stack.base_url + "/openapi.json", timeout=10).json()
    headers = {"x-api-key": local_stack.admin_key, "content-type": "application/json"}
    checked = 0
    for path, operations in document["paths"].items():
        url = local_stack.base_url + re.sub(r"{[^}]+}", "x1", path)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            if method.lower() in operations or (method == "HEAD" and "get" in operations):
                continue
            # When a method the document does not declare is sent
            reply = requests.request(method, url, headers=headers, data="{}", timeout=30)
            checked += 1
            # Then it is a 405 naming the allowed methods (or, where the template routes only some methods
            # of the path to a function, API Gateway's 404), in the envelope: never a server error
            assert reply.status_code in (404, 405), f"{method} {path}: {reply.status_code} {reply.text}"
            if method != "HEAD":
                body = reply.json()
                assert body["statuscode"].startswith(str(reply.status_code)), f"{method} {path}: {body}"
            if reply.status_code == 405:
                assert reply.headers["Allow"], f"{method} {path}"
    assert checked >= 100
