"""Request and response contracts (pydantic). /v1 routes use kebab-case, /v2 routes the V2 seed's camelCase.

These are wire formats only; stored items live in gateway.repo. This module holds what every API function
needs (roles, the error envelope, the kebab-case base) and the V2 registration contracts; each /v1 area has
its own module (admin_contracts, provisioning_contracts, delivery_contracts, privacy_contracts,
inventory_contracts, candidate_contracts, notify_contracts), so a function builds only the models it uses
when it starts.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway.validation import (
    Email,
    OptionalUrl,
    PersonName,
)


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
def _source(value: object) -> object:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "api"
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,39}", value.strip().lower()):
        raise ValueError("must be api, dashboard, import or a name of 1-40 characters a-z 0-9 . _ -")
    return value.strip().lower()


RegistrationSource = Annotated[str, BeforeValidator(_source)]


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
    sendEmail: bool = Field(
        default=False,
        description="Also e-mail the candidate the invitation with the take-test URL (once per invitation).",
    )
    source: RegistrationSource = Field(
        default="api",
        description="Where the registration comes from (an addition to the V2 seed, optional): api (the "
        "default), dashboard, import, or a name of the caller's (1-40 of a-z 0-9 . _ -). Stored on the "
        "candidate (when new) and the invitation; GET /v1/candidates filters on it.",
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
    emailBounced: bool = Field(
        default=False,
        description="An e-mail to the candidate bounced (or was marked as spam): the address is suppressed.",
    )
    callbackDisabled: bool = Field(
        default=False,
        description="The callbackURL answered 410 Gone: nothing more is sent to it. Registering the "
        "candidate again with another callbackURL enables the callback.",
    )
    callbackDisabledAt: str | None = Field(
        default=None, description="When the callbackURL answered 410 Gone."
    )


class Health(BaseModel):
    status: str = "ok"
    details: dict[str, Any] = Field(default_factory=dict)
