"""Fault run: 1,000 results through the local stack to a local receiver that fails 30% of requests.

The receiver answers 5xx, stalls past the 10 s timeout (scaled down here, see below) or resets the
connection for 30% of requests, and 2xx otherwise. Reported: results delivered to the endpoint at least
once (goal 100%), lost (goal 0), the share of deliveries the receiver saw more than once, time to drain.
Retries use a compressed schedule (DELIVERY_RETRY_SCHEDULE) so the run takes minutes, not days; the
attempt timeout is shortened the same way (DELIVERY_TIMEOUT_SECONDS).
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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests

from local import LocalStack

RESULTS = int(os.environ.get("BENCH_FAULT_RESULTS", "1000"))
FAILURE_RATE = 0.3
DRAIN_LIMIT_SECONDS = int(os.environ.get("BENCH_FAULT_DRAIN_SECONDS", "3600"))


class FlakyReceiver:
    def __init__(self, rng: random.Random) -> None:
        self.seen: Counter[str] = Counter()  # webhook-id -> deliveries accepted with 2xx
        self.requests = 0
        self.failures: Counter[str] = Counter()
        self.tests: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.requests += 1
                    roll = rng.random()
                if roll < FAILURE_RATE / 3:
                    receiver.failures["5xx"] += 1
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if roll < 2 * FAILURE_RATE / 3:
                    receiver.failures["timeout"] += 1
                    time.sleep(1.5)  # past the shortened attempt timeout
                    return
                if roll < FAILURE_RATE:
                    receiver.failures["reset"] += 1
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                data = json.loads(parse_qs(body.decode())["data"][0])
                with receiver.lock:
                    receiver.seen[self.headers["webhook-id"]] += 1
                    receiver.tests.add(data["TestID"])
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/results"


def run() -> dict[str, Any]:
    rng = random.Random(2026)
    receiver = FlakyReceiver(rng)
    env = {"DELIVERY_RETRY_SCHEDULE": "0.5,1,2,3,5,8,10,10,10,10", "DELIVERY_TIMEOUT_SECONDS": "1"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(port=0, state_dir=Path(tmp) / ".local", env=env) as stack,
    ):
        headers = {"x-api-key": stack.admin_key}
        base = stack.base_url
        requests.post(
            f"{base}/v1/tracks",
            headers=headers,
            timeout=60,
            json={"code": "FAULT", "url": receiver.url, "format": "itep-form", "events": ["completed"]},
        )
        ids = [f"F{i:05d}" for i in range(RESULTS)]
        for start in range(0, RESULTS, 500):
            requests.post(
                f"{base}/v1/test-ids",
                headers=headers,
                timeout=120,
                json={
                    "test-ids": [
                        {"test-id": t, "password": "pw", "test-type": "Fault"}
                        for t in ids[start : start + 500]
                    ]
                },
            )
        for _ in ids:
            reply = requests.post(
                f"{base}/v1/fulfillments",
                headers=headers,
                timeout=60,
                json={"product-code": "GTX-Fault", "track": "FAULT"},
            )
            assert reply.status_code == 201, reply.text
        secret = stack.engine_secret or ""

        def post(test_id: str) -> int:
            body = json.dumps(
                {"TestID": test_id, "Status": "Completed", "Overall_Level": "4.0", "Overall_cefr": "B2"}
            )
            stamp = str(int(time.time()))
            mac = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
            return requests.post(
                f"{base}/v1/results",
                data=body,
                timeout=60,
                headers={
                    "content-type": "application/json",
                    "x-timestamp": stamp,
                    "x-signature": f"v1={mac}",
                },
            ).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            statuses = Counter(pool.map(post, ids))
        posted = time.perf_counter() - started
        print(f"posted {RESULTS} results in {posted:.1f}s: {dict(statuses)}", file=sys.stderr)
        deadline = time.monotonic() + DRAIN_LIMIT_SECONDS
        while len(receiver.tests) < RESULTS and time.monotonic() < deadline:
            time.sleep(1)
            print(
                f"  {time.perf_counter() - started:.0f}s: {len(receiver.tests)} delivered, "
                f"{receiver.requests} requests",
                file=sys.stderr,
            )
        drained = time.perf_counter() - started
        by_status: Counter[str] = Counter()
        cursor = None
        while True:
            page = requests.get(
                f"{base}/v1/deliveries",
                headers=headers,
                timeout=60,
                params={"limit": 100, **({"cursor": cursor} if cursor else {})},
            ).json()
            by_status.update(item["status"] for item in page["items"])
            cursor = page["next-cursor"]
            if not cursor:
                break
    delivered = len(receiver.tests)
    # Lost: a result that was neither delivered nor is still on its way (pending) when the run ended.
    lost = RESULTS - delivered - by_status["pending"]
    duplicates = sum(1 for n in receiver.seen.values() if n > 1)
    return {
        "results": RESULTS,
        "intake_statuses": dict(statuses),
        "receiver_failure_rate": FAILURE_RATE,
        "receiver_requests": receiver.requests,
        "receiver_failures": dict(receiver.failures),
        "delivered_at_least_once": delivered,
        "delivered_share": round(delivered / RESULTS, 4),
        "lost": lost,
        "still_pending_at_deadline": by_status["pending"],
        "deliveries_by_status": dict(by_status),
        "dead_lettered": by_status["dead"],
        "seen_more_than_once_share": round(duplicates / max(len(receiver.seen), 1), 4),
        "seconds_to_post": round(posted, 1),
        "seconds_to_drain": round(drained, 1),
        "retry_schedule_seconds": env["DELIVERY_RETRY_SCHEDULE"],
        "goals": {"delivered_share": 1.0, "lost": 0},
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
