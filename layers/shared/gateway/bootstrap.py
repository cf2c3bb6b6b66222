"""Idempotent seeding of a root organisation unit and an admin key (local stack, first deployment)."""

from __future__ import annotations

from typing import Any

from gateway import auth, orgs
from gateway.contracts import Role
from gateway.repo import directory

ROOT_ID = "ou_root"


def seed_root(name: str = "Root", api_key: str | None = None, unit_id: str = ROOT_ID) -> dict[str, Any]:
    """Make sure the root unit exists and holds an admin key.

    With `api_key`, that exact key is created if missing and returned; without, a new admin key is made.
    """
    unit = directory.get_unit(unit_id) or orgs.create_root(name, unit_id)
    if api_key is not None:
        key_id, _ = auth.split_key(api_key)
        existing = directory.get_key(key_id)
        if existing is not None and existing.revoked_at is None and existing.unit_id == unit.id:
            return {"org_unit": unit.id, "key_id": key_id, "api_key": api_key}
        if existing is not None:
            raise ValueError("the requested admin key exists but is revoked or belongs to another unit")
    record, full_key = orgs.issue_key(unit, Role.ADMIN, "seeded admin key", api_key)
    return {"org_unit": unit.id, "key_id": record.key_id, "api_key": full_key}
