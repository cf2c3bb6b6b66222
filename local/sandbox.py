"""The sandbox test engine: what a takeTestURL opens on the local stack.

A small page where a candidate starts and finishes a pretend test. Each button makes this page act as the
real engine would: it posts a signed result (V2 dialect, naming the invitation) to POST /v1/results with
the engine secret, so the whole path — intake, life cycle, events, callbacks — runs as in production.
Finishing redirects to the invitation's redirectURL when it has one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from datetime import UTC, datetime
from html import escape
from typing import Any

import requests

ENGINE_SECRET_FILE = "engine-secret"  # noqa: S105 - a file name, not a secret
TOKEN = r"(?P<token>[A-Za-z0-9_-]{16,64})"  # noqa: S105 - a URL pattern


class Sandbox:
    def __init__(self, base_url: str, engine_secret: str) -> None:
        self.base_url = base_url
        self.engine_secret = engine_secret

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", rf"^/sandbox/take/{TOKEN}$", self.page),
            ("POST", rf"^/sandbox/take/{TOKEN}/start$", self.start),
            ("POST", rf"^/sandbox/take/{TOKEN}/finish$", self.finish),
        ]

    # -- helpers --------------------------------------------------------------------------------
    def _invitation(self, request: Any) -> dict[str, Any] | None:
        from gateway import registration
        from gateway.repo import candidates

        inv_id = registration.invitation_of_token(request.match.group("token"))
        return candidates.get_invitation(inv_id) if inv_id else None

    def _post_result(self, payload: dict[str, Any]) -> requests.Response:
        body = json.dumps(payload)
        stamp = str(int(time.time()))
        mac = hmac.new(self.engine_secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
        return requests.post(
            f"{self.base_url}/v1/results",
            data=body,
            timeout=30,
            headers={"content-type": "application/json", "x-timestamp": stamp, "x-signature": f"v1={mac}"},
        )

    @staticmethod
    def _html(status: int, title: str, body: str) -> tuple[int, dict[str, str], bytes]:
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2733}}
.card{{border:1px solid #d0d7de;border-radius:8px;padding:1.5rem}}button{{font-size:1rem;padding:.6rem 1.2rem;
margin-right:.5rem;border-radius:6px;border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}}
.muted{{color:#57606a}}.status{{font-weight:600}}</style></head>
<body><div class="card"><p class="muted">Assessment Gateway sandbox test engine (local stack)</p>
{body}</div></body></html>"""
        return status, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    # -- routes ---------------------------------------------------------------------------------
    def page(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        invitation = self._invitation(request)
        if invitation is None:
            return self._html(404, "Unknown test", "<h1>This test link is not valid.</h1>")
        token = request.match.group("token")
        status = escape(str(invitation["status"]))
        return self._html(
            200,
            "Sandbox test",
            f"""
<h1>Hello {escape(invitation["full_name"])}</h1>
<p>Test <strong>{invitation["test_id"]}</strong>, invitation {invitation["invitation_id"]}.</p>
<p>Status: <span class="status" id="status">{status}</span></p>
<form method="post" action="/sandbox/take/{token}/start" style="display:inline">
  <button id="start" type="submit">Start the test</button></form>
<form method="post" action="/sandbox/take/{token}/finish" style="display:inline">
  <button id="finish" type="submit">Finish the test</button></form>""",
        )

    def start(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        invitation = self._invitation(request)
        if invitation is None:
            return self._html(404, "Unknown test", "<h1>This test link is not valid.</h1>")
        reply = self._post_result({"TestInvitationId": int(invitation["invitation_id"]), "Status": "Started"})
        if reply.status_code != 200:
            return self._html(
                502, "Engine error", f"<h1>The result was refused</h1><pre>{escape(reply.text)}</pre>"
            )
        return 303, {"Location": f"/sandbox/take/{request.match.group('token')}"}, b""

    def finish(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        invitation = self._invitation(request)
        if invitation is None:
            return self._html(404, "Unknown test", "<h1>This test link is not valid.</h1>")
        total = 50
        score = random.randint(20, total)
        payload = {
            "TestInvitationId": int(invitation["invitation_id"]),
            "Status": "Completed",
            "AttemptedOn": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", ""),
            "TotalScore": total,
            "CandidateScore": score,
            "ReportPDFUrl": f"{self.base_url}/sandbox/take/{request.match.group('token')}",
        }
        reply = self._post_result(payload)
        if reply.status_code != 200:
            return self._html(
                502, "Engine error", f"<h1>The result was refused</h1><pre>{escape(reply.text)}</pre>"
            )
        if invitation.get("redirect_url"):
            return 303, {"Location": str(invitation["redirect_url"])}, b""
        return self._html(
            200,
            "Test finished",
            f"""<h1>Test finished</h1>
<p>Status: <span class="status" id="status">Completed</span></p>
<p>Score: <strong id="score">{score}</strong> of {total}</p>""",
        )
