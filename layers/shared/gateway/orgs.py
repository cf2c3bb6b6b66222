"""Organisation units (a tree; eTest's UICs) and the API keys that act on them."""

from __future__ import annotations

from gateway import auth, crypto
from gateway.auth import Caller
from gateway.contracts import Role
from gateway.errors import NotFound
from gateway.repo import directory, now_iso
from gateway.repo.directory import ApiKeyRecord, OrgUnit

MAX_PAGE = 100


def unit_in_scope(caller: Caller, unit_id: str, field: str) -> OrgUnit:
    unit = directory.get_unit(unit_id)
    if unit is None:
        raise NotFound(f"{field}: no organisation unit '{unit_id}'")
    caller.require_scope(unit.path, field)
    return unit


def create_unit(caller: Caller, name: str, parent_id: str | None) -> OrgUnit:
    parent = unit_in_scope(caller, parent_id or caller.unit_id, "parent-id")
    unit_id = f"ou_{crypto.random_hex(6)}"
    unit = OrgUnit(
        id=unit_id,
        name=name,
        parent_id=parent.id,
        path=f"{parent.path}{unit_id}/",
        tree=parent.tree,
        created_at=now_iso(),
    )
    directory.put_unit(unit)
    return unit


def create_root(name: str, unit_id: str | None = None) -> OrgUnit:
    unit_id = unit_id or f"ou_{crypto.random_hex(6)}"
    unit = OrgUnit(
        id=unit_id, name=name, parent_id=None, path=f"/{unit_id}/", tree=unit_id, created_at=now_iso()
    )
    directory.put_unit(unit)
    return unit


def list_units(caller: Caller, limit: int, cursor: str | None) -> tuple[list[OrgUnit], str | None]:
    return directory.list_units(caller.tree, caller.unit_path, min(limit, MAX_PAGE), cursor)


def issue_key(
    unit: OrgUnit, role: Role, name: str | None, api_key: str | None = None, signed_only: bool = False
) -> tuple[ApiKeyRecord, str]:
    """Store a new key for `unit`; returns the record and the full key (shown once)."""
    if api_key is None:
        key_id, api_key, secret_hash = auth.new_key()
    else:
        key_id, secret = auth.split_key(api_key)
        secret_hash = crypto.sha256_hex(secret)
    record = ApiKeyRecord(
        key_id=key_id,
        secret_hash=secret_hash,
        role=role.value,
        unit_id=unit.id,
        unit_path=unit.path,
        tree=unit.tree,
        created_at=now_iso(),
        name=name,
        signed_only=signed_only,
    )
    directory.put_key(record)
    return record, api_key


def create_key(
    caller: Caller, unit_id: str, role: Role, name: str | None, signed_only: bool = False
) -> tuple[ApiKeyRecord, str]:
    unit = unit_in_scope(caller, unit_id, "org-unit")
    return issue_key(unit, role, name, signed_only=signed_only)


def list_keys(caller: Caller, limit: int, cursor: str | None) -> tuple[list[ApiKeyRecord], str | None]:
    return directory.list_keys(caller.tree, caller.unit_path, min(limit, MAX_PAGE), cursor)


def revoke_key(caller: Caller, key_id: str) -> ApiKeyRecord:
    record = directory.get_key(key_id)
    if record is None or record.tree != caller.tree:
        raise NotFound(f"keyId: no API key '{key_id}'")
    caller.require_scope(record.unit_path, "keyId")
    revoked = directory.revoke_key(key_id, now_iso())
    if revoked is None:
        raise NotFound(f"keyId: no API key '{key_id}'")
    auth.key_cache.forget(key_id)
    return revoked
