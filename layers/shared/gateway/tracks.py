"""Tracks: the iTEP seed's tracking codes, each naming an endpoint that results are reported to.

A track belongs to the unit that created it and serves that unit and every unit below it. Its signing
secret (Standard Webhooks, `whsec_` + base64) is derived under the master key, shown on every save, and
never stored.
"""

from __future__ import annotations

import base64
from typing import Any

from gateway import crypto, ssrf
from gateway.auth import Caller
from gateway.config import get_settings
from gateway.delivery_contracts import CreatedTrack, TrackRequest, TrackView
from gateway.errors import InvalidInput, OutOfScope
from gateway.repo import now_iso
from gateway.repo import tracks as repo


def signing_secret(tree: str, code: str) -> str:
    return "whsec_" + base64.b64encode(crypto.derive("track", f"{tree}|{code.casefold()}")).decode()


def _check_url(url: str) -> str:
    """https, resolving only to public addresses (checked again at every delivery: DNS rebinding)."""
    ssrf.check_url(url.strip(), allow_loopback=get_settings().local_stack, field="url")
    return url.strip()


def view(item: dict[str, Any]) -> TrackView:
    return TrackView(
        code=item["code"],
        url=item["url"],
        format=item["format"],
        events=item["events"],
        send_on_finish=bool(item.get("send_on_finish")),
        org_unit=item["unit_id"],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )


def save(caller: Caller, request: TrackRequest) -> CreatedTrack:
    track = {
        "code": request.code,
        "url": _check_url(request.url),
        "format": request.format.value,
        "events": sorted({e.value for e in request.events}),
        "send_on_finish": request.send_on_finish,
    }
    item = repo.upsert(caller.tree, caller.unit_id, caller.unit_path, track, now_iso())
    if item is None:
        raise OutOfScope(f"code: track '{request.code}' belongs to a unit outside this key's subtree")
    return CreatedTrack(**view(item).model_dump(), signing_secret=signing_secret(caller.tree, request.code))


def usable(caller: Caller, code: str) -> dict[str, Any]:
    """The track `code` if the caller's unit may use it (its own or an ancestor's); else a 400 naming it."""
    item = repo.get(caller.tree, code)
    if item is None or not caller.unit_path.startswith(item["unit_path"]):
        raise InvalidInput("track", f"unknown track '{code}'")
    return item


def listing(caller: Caller) -> list[TrackView]:
    return [view(i) for i in repo.in_subtree(caller.tree, caller.unit_path)]
