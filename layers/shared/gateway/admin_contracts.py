"""Request and response contracts of organisation units and API keys (kebab-case, /v1).

Wire formats only; stored items live in gateway.repo.
"""

from __future__ import annotations

from pydantic import Field

from gateway.contracts import Kebab, Role
from gateway.validation import (
    ShortText,
)


# ---------------------------------------------------------------------------------------------- V1
class CreateOrgUnit(Kebab):
    name: ShortText = Field(description="Name of the unit, unique among its siblings.")
    parent_id: str | None = Field(
        default=None, alias="parent-id", max_length=64, description="Parent unit; default: the caller's unit."
    )


class OrgUnitView(Kebab):
    id: str
    name: str
    parent_id: str | None = Field(alias="parent-id")
    path: str = Field(description="Ids from the root down to this unit, '/'-separated.")
    created_at: str = Field(alias="created-at")


class OrgUnitPage(Kebab):
    items: list[OrgUnitView]
    next_cursor: str | None = Field(alias="next-cursor")


class CreateApiKey(Kebab):
    org_unit: str = Field(alias="org-unit", min_length=1, max_length=64)
    role: Role
    name: ShortText | None = Field(default=None, description="A label to recognise the key by.")
    signed_only: bool = Field(default=False, alias="signed-only", description="Refuse unsigned requests.")


class ApiKeyView(Kebab):
    key_id: str = Field(alias="key-id")
    org_unit: str = Field(alias="org-unit")
    role: Role
    name: str | None = None
    created_at: str = Field(alias="created-at")
    revoked_at: str | None = Field(default=None, alias="revoked-at")
    signed_only: bool = Field(default=False, alias="signed-only")


class CreatedApiKey(ApiKeyView):
    api_key: str = Field(alias="api-key", description="Shown once; only a hash is stored.")
    signing_secret: str = Field(
        alias="signing-secret",
        description="Shown once: signs requests (x-timestamp, x-signature); never stored.",
    )
    webhook_secret: str = Field(
        alias="webhook-secret",
        description="Verifies the V2 callbacks of this key's registrations (whsec_...).",
    )


class ApiKeyPage(Kebab):
    items: list[ApiKeyView]
    next_cursor: str | None = Field(alias="next-cursor")
