"""Fault run: 1,000 results through the local stack to a local receiver that fails 30% of requests.

The results go to three endpoints, a third each: two tracks (format `itep-form` and format `json`) and
the V2 `callbackURL` of registrations (the V2 callback object). The receiver serves all three; for 30% of
requests it answers 503, stalls past the attempt timeout, or resets the connection, and 2xx otherwise.

Reported, in all and per endpoint: results delivered at least once (a 2xx reply; goal 100%), lost
(neither delivered nor still pending when the run ended; goal 0), the share of deliveries (webhook-ids)
the receiver saw more than once, and time to drain.

"Seen" counts every request whose body the receiver read in full and took in: a 2xx, and also a stall
or a reset, which happen after the body was read (a receiver that processed a request the sender then
timed out on, or whose reply was lost, is exactly what produces duplicates). A 503 says the receiver
refused the request, so it is not a delivery it saw. Each duplicate is put down to the request before it:
a stall (`timeout`), a reset, or a 2xx the sender did not hear of (`2xx`, expected 0).

Retries use a compressed schedule (DELIVERY_RETRY_SCHEDULE, seconds instead of minutes to hours) so the
run takes minutes, not days; the attempt timeout is shortened the same way (DELIVERY_TIMEOUT_SECONDS).
Both are the bench's own configuration of the stack; the code's defaults are unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests

from local import LocalStack

RESULTS = int(os.environ.get("BENCH_FAULT_RESULTS", "1000"))
FAILURE_RATE = 0.3
DRAIN_LIMIT_SECONDS = int(os.environ.get("BENCH_FAULT_DRAIN_SECONDS", "3600"))
RETRY_SCHEDULE = "0.5,1,2,3,5,8,10,10,10,10"  # seconds; production: 5 s .. 24 h, about 3 days in all
ATTEMPT_TIMEOUT = 1  # seconds; production: 10
STALL_SECONDS = 1.5  # a stalled request: past the attempt timeout
OK, REFUSED, STALLED, RESET = "2xx", "5xx", "timeout", "reset"


@dataclass(frozen=True)
class Endpoint:
    name: str  # the receiver's path, and the name in the report
    kind: str  # track | v2-callback
    format: str  # itep-form | json | v2-callback
    track: str | None = None  # the track code


ENDPOINTS = (
    Endpoint("track-itep-form", "track", "itep-form", "FAULT-FORM"),
    Endpoint("track-json", "track", "json", "FAULT-JSON"),
    Endpoint("v2-callback", "v2-callback", "v2-callback"),
)
BY_NAME = {e.name: e for e in ENDPOINTS}


@dataclass(frozen=True)
class Seen:
    """One request the receiver read in full, in arrival order."""

    endpoint: str
    webhook_id: str
    subject: str  # the TestID or the TestInvitationId the body names
    outcome: str  # 2xx | 5xx | timeout | reset


def subject_of(endpoint: Endpoint, body: bytes) -> str:
    """The result a delivery body is about: the TestID (tracks) or the TestInvitationId (V2)."""
    text = body.decode()
    if endpoint.format == "itep-form":
        text = parse_qs(text)["data"][0]
    data = json.loads(text)
    return str(data["TestInvitationId"] if endpoint.format == "v2-callback" else data["TestID"])


class FlakyReceiver:
    def __init__(self, rng: random.Random) -> None:
        self.log: list[Seen] = []
        self.unreadable = 0  # bodies that do not name a result (expected 0)
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                endpoint = BY_NAME.get(self.path.strip("/"))
                try:
                    subject = subject_of(endpoint, body) if endpoint else "?"
                except (ValueError, KeyError, IndexError):
                    subject = "?"
                with receiver.lock:
                    roll = rng.random()
                    if roll < FAILURE_RATE / 3:
                        outcome = REFUSED
                    elif roll < 2 * FAILURE_RATE / 3:
                        outcome = STALLED
                    elif roll < FAILURE_RATE:
                        outcome = RESET
                    else:
                        outcome = OK
                    # Recorded before stalling or resetting: the body was read, the receiver has it.
                    receiver.log.append(
                        Seen(endpoint.name if endpoint else "?", self.headers["webhook-id"], subject, outcome)
                    )
                    receiver.unreadable += subject == "?"
                if outcome == STALLED:
                    time.sleep(STALL_SECONDS)
                    return
                if outcome == RESET:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                self.send_response(503 if outcome == REFUSED else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, endpoint: Endpoint) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/{endpoint.name}"

    def snapshot(self) -> list[Seen]:
        with self.lock:
            return list(self.log)


def acknowledged(log: Iterable[Seen]) -> dict[str, set[str]]:
    """Per endpoint, the results answered with a 2xx at least once."""
    done: dict[str, set[str]] = defaultdict(set)
    for seen in log:
        if seen.outcome == OK:
            done[seen.endpoint].add(seen.subject)
    return done


def duplicates(log: Iterable[Seen]) -> dict[str, Any]:
    """Deliveries (webhook-ids) the receiver took in more than once, and what caused each extra one.

    The requests of one webhook-id that the receiver took in (all but 5xx) are, in order, r1 .. rn; each
    of r2 .. rn is a duplicate caused by the one before it: a stall or reset that the sender took for a
    failure, or a 2xx it did not hear of."""
    taken: dict[str, list[str]] = defaultdict(list)
    for seen in log:
        if seen.outcome != REFUSED:
            taken[seen.webhook_id].append(seen.outcome)
    extra: Counter[str] = Counter()
    ids_by_cause: Counter[str] = Counter()
    twice = 0
    for outcomes in taken.values():
        if len(outcomes) < 2:
            continue
        twice += 1
        causes = Counter(outcomes[:-1])
        extra.update(causes)
        ids_by_cause.update(causes.keys())
    seen_ids = max(len(taken), 1)
    return {
        "webhook_ids_seen": len(taken),
        "seen_more_than_once": twice,
        "seen_more_than_once_share": round(twice / seen_ids, 4),
        "extra_deliveries": sum(extra.values()),
        "by_cause": {
            cause: {
                "webhook_ids": ids_by_cause[cause],
                "share": round(ids_by_cause[cause] / seen_ids, 4),
                "extra_deliveries": extra[cause],
            }
            for cause in (STALLED, RESET, OK)
        },
    }


def _sign(secret: str, body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-timestamp": stamp, "x-signature": f"v1={mac}"}


def _check(reply: requests.Response, *expected: int) -> requests.Response:
    assert reply.status_code in expected, (
        f"{reply.request.method} {reply.url}: {reply.status_code} {reply.text}"
    )
    return reply


def _setup(base: str, headers: dict[str, str], receiver: FlakyReceiver) -> dict[str, str]:
    """Tracks, test IDs and fulfilments, V2 registrations: the subject of every result -> its endpoint."""
    for endpoint in ENDPOINTS:
        if endpoint.track:
            body = {
                "code": endpoint.track,
                "url": receiver.url(endpoint),
                "format": endpoint.format,
                "events": ["completed"],
            }
            _check(requests.post(f"{base}/v1/tracks", headers=headers, timeout=60, json=body), 200, 201)
    planned = [ENDPOINTS[i % len(ENDPOINTS)] for i in range(RESULTS)]  # interleaved
    tracked = [e for e in planned if e.track]
    ids = [f"F{i:05d}" for i in range(len(tracked))]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        test_ids = [{"test-id": t, "password": "pw", "test-type": "Fault"} for t in chunk]
        _check(
            requests.post(f"{base}/v1/test-ids", headers=headers, timeout=120, json={"test-ids": test_ids}),
            200,
            201,
        )
    subjects: dict[str, str] = {}
    for n, endpoint in enumerate(planned):
        if endpoint.track:
            reply = requests.post(
                f"{base}/v1/fulfillments",
                headers=headers,
                timeout=60,
                json={"product-code": "GTX-Fault", "track": endpoint.track},
            )
            subjects[str(_check(reply, 201).json()["test-id"])] = endpoint.name
        else:
            reply = requests.post(
                f"{base}/v2/tests/1001/register",
                headers=headers,
                timeout=60,
                json={
                    "emailId": f"fault{n:05d}@example.com",
                    "fullName": f"Fault {n}",
                    "callbackURL": receiver.url(endpoint),
                },
            )
            subjects[str(_check(reply, 200).json()["result"]["testInvitationId"])] = endpoint.name
    return subjects


def _result(subject: str, endpoint: str) -> str:
    if BY_NAME[endpoint].kind == "v2-callback":
        return json.dumps(
            {
                "TestInvitationId": int(subject),
                "Status": "Completed",
                "AttemptedOn": "2026-12-01T10:00:00",
                "TotalScore": 50,
                "CandidateScore": 34,
                "ReportPDFUrl": "https://engine.example.com/r/fault.pdf",
            }
        )
    return json.dumps(
        {"TestID": subject, "Status": "Completed", "Overall_Level": "4.0", "Overall_cefr": "B2"}
    )


def _deliveries(base: str, headers: dict[str, str]) -> dict[str, Counter[str]]:
    """Delivery records by endpoint name and status, as GET /v1/deliveries lists them."""
    by_track = {e.track: e.name for e in ENDPOINTS if e.track}
    found: dict[str, Counter[str]] = defaultdict(Counter)
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = _check(requests.get(f"{base}/v1/deliveries", headers=headers, timeout=60, params=params), 200)
        for item in page.json()["items"]:
            kind, _, name = item["endpoint"].partition(":")
            found[by_track.get(name, "?") if kind == "track" else "v2-callback"][item["status"]] += 1
        cursor = page.json()["next-cursor"]
        if not cursor:
            return found


def run() -> dict[str, Any]:
    rng = random.Random(2026)
    receiver = FlakyReceiver(rng)
    env = {"DELIVERY_RETRY_SCHEDULE": RETRY_SCHEDULE, "DELIVERY_TIMEOUT_SECONDS": str(ATTEMPT_TIMEOUT)}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(port=0, state_dir=Path(tmp) / ".local", env=env) as stack,
    ):
        headers = {"x-api-key": stack.admin_key or ""}
        base = stack.base_url
        set_up = time.perf_counter()
        subjects = _setup(base, headers, receiver)
        set_up = time.perf_counter() - set_up
        expected: dict[str, set[str]] = defaultdict(set)
        for subject, name in subjects.items():
            expected[name].add(subject)
        secret = stack.engine_secret or ""

        def post(subject: str) -> int:
            body = _result(subject, subjects[subject])
            reply = requests.post(f"{base}/v1/results", data=body, timeout=60, headers=_sign(secret, body))
            return reply.status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            statuses = Counter(pool.map(post, list(subjects)))
        posted = time.perf_counter() - started
        print(f"posted {RESULTS} results in {posted:.1f}s: {dict(statuses)}", file=sys.stderr)
        deadline = time.monotonic() + DRAIN_LIMIT_SECONDS
        reported = 0.0
        while time.monotonic() < deadline:
            done = acknowledged(receiver.snapshot())
            delivered = sum(len(done[e] & expected[e]) for e in expected)
            if delivered >= RESULTS:
                break
            if time.perf_counter() - reported >= 10:
                reported = time.perf_counter()
                print(
                    f"  {reported - started:.0f}s: {delivered} delivered, {len(receiver.log)} requests",
                    file=sys.stderr,
                )
            time.sleep(0.5)
        drained = time.perf_counter() - started
        records = _deliveries(base, headers)
    log = receiver.snapshot()
    done = acknowledged(log)
    ids_per_result: dict[tuple[str, str], set[str]] = defaultdict(set)
    for seen in log:
        ids_per_result[(seen.endpoint, seen.subject)].add(seen.webhook_id)
    per_endpoint: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        want = expected[endpoint.name]
        got = len(done[endpoint.name] & want)
        statuses_here = records[endpoint.name]
        own = [s for s in log if s.endpoint == endpoint.name]
        dup = duplicates(own)
        per_endpoint[endpoint.name] = {
            "kind": endpoint.kind,
            "format": endpoint.format,
            "results": len(want),
            "delivered": got,
            "delivered_share": round(got / max(len(want), 1), 4),
            # Lost: neither delivered nor still on its way (pending) when the run ended; dead ones count.
            "lost": len(want) - got - statuses_here["pending"],
            "pending": statuses_here["pending"],
            "dead_lettered": statuses_here["dead"],
            "receiver_requests": len(own),
            "seen_more_than_once_share": dup["seen_more_than_once_share"],
            "seen_more_than_once_by_cause": {c: v["share"] for c, v in dup["by_cause"].items()},
        }
    delivered = sum(e["delivered"] for e in per_endpoint.values())
    pending = sum(e["pending"] for e in per_endpoint.values())
    all_records: Counter[str] = Counter()
    for counts in records.values():
        all_records.update(counts)
    return {
        "results": RESULTS,
        "intake_statuses": dict(statuses),
        "receiver_failure_rate": FAILURE_RATE,
        "receiver_requests": len(log),
        "receiver_outcomes": dict(Counter(s.outcome for s in log)),
        "receiver_unreadable_bodies": receiver.unreadable,
        "delivered_at_least_once": delivered,
        "delivered_share": round(delivered / RESULTS, 4),
        "lost": RESULTS - delivered - pending,
        "still_pending_at_deadline": pending,
        "deliveries_by_status": dict(all_records),
        "dead_lettered": all_records["dead"],
        # Retries of one result must carry one webhook-id (goal 0 results with more than one).
        "results_with_several_webhook_ids": sum(1 for ids in ids_per_result.values() if len(ids) > 1),
        "duplicates": duplicates(log),
        "seen_more_than_once_share": duplicates(log)["seen_more_than_once_share"],
        "per_endpoint": per_endpoint,
        "seconds_to_set_up": round(set_up, 1),
        "seconds_to_post": round(posted, 1),
        "seconds_to_drain": round(drained, 1),
        "seconds_draining_after_posting": round(drained - posted, 1),
        "retry_schedule_seconds": RETRY_SCHEDULE,
        "attempt_timeout_seconds": ATTEMPT_TIMEOUT,
        "goals": {"delivered_share": 1.0, "lost": 0, "results_with_several_webhook_ids": 0},
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
