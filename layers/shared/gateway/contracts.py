"""Request and response contracts (pydantic). /v1 routes use kebab-case, /v2 routes the V2 seed's camelCase.

These are wire formats only; stored items live in gateway.repo.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from gateway.validation import Email, OptionalUrl, PersonName, ShortText


class Role(StrEnum):
    ADMIN = "admin"
    SUPPORT = "support"
    INTEGRATION = "integration"


class ErrorEnvelope(BaseModel):
    statuscode: str = Field(examples=["400.1"], description="<http status>.<n>")
    description: str = Field(examples=["emailId: must be a valid e-mail address"])


class Kebab(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_max_length=4096)


# ---------------------------------------------------------------------------------------------- V2
class RegisterRequest(BaseModel):
    """Body of POST /v2/tests/{testId}/register (the V2 seed)."""

    model_config = ConfigDict(extra="ignore")

    emailId: Email = Field(description="E-mail address of the candidate.", examples=["amit@example.com"])
    fullName: PersonName = Field(description="Full name of the candidate.", examples=["Amit Mishra"])
    callbackURL: OptionalUrl = Field(
        default=None, description="After completion of the test the callback object is sent here."
    )
    redirectURL: OptionalUrl = Field(
        default=None, description="After completion of the test the candidate is redirected here."
    )


class RegisterResult(BaseModel):
    testInvitationId: int
    takeTestURL: str


T = TypeVar("T")


class V2Envelope(BaseModel, Generic[T]):
    statuscode: str = "200.1"
    description: str = "The request has succeeded."
    result: T


class InvitationView(BaseModel):
    testInvitationId: int
    testId: int
    emailId: str
    fullName: str
    status: str
    takeTestURL: str
    callbackURL: str | None = None
    redirectURL: str | None = None
    orgUnit: str
    candidateId: str
    createdAt: str
    updatedAt: str


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


class ApiKeyView(Kebab):
    key_id: str = Field(alias="key-id")
    org_unit: str = Field(alias="org-unit")
    role: Role
    name: str | None = None
    created_at: str = Field(alias="created-at")
    revoked_at: str | None = Field(default=None, alias="revoked-at")


class CreatedApiKey(ApiKeyView):
    api_key: str = Field(alias="api-key", description="Shown once; only a hash is stored.")


class ApiKeyPage(Kebab):
    items: list[ApiKeyView]
    next_cursor: str | None = Field(alias="next-cursor")


class Health(BaseModel):
    status: str = "ok"
    details: dict[str, Any] = Field(default_factory=dict)
