"""Request and response contracts of candidate administration (issue 6), kebab-case like the iTEP seed."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from gateway.contracts import Kebab
from gateway.validation import PersonName

# Kept as TEXT: a leading 0 or + is part of the number (eTest ETAPI-36: phone numbers "turned to 0").
_DIAL_CODE = re.compile(r"^\+?[0-9]{1,4}(-[0-9]{1,4})?$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,29}$")
USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")


def _text_only(field: str) -> Any:
    def check(value: object) -> object:
        if value is not None and not isinstance(value, str):
            raise ValueError(
                f'must be a string (send "{value}" in quotes: as a number a leading 0 or + would be lost)'
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else "must be a string"
            )
        return value

    return BeforeValidator(check)


def _zero_one(value: object) -> object:
    """hidden as true/false or 0/1 (eTest ETAPI-30 sent "0 / 1")."""
    if value in (0, 1, "0", "1") and not isinstance(value, bool):
        return bool(int(str(value)))
    if not isinstance(value, bool):
        raise ValueError("must be true or false (or 0 / 1)")
    return value


class CandidatePatch(Kebab):
    """Body of PATCH /v1/candidates/{id}: any of the fields; null clears username, dial-code and phone."""

    full_name: PersonName | None = Field(default=None, alias="full-name")
    username: Annotated[str | None, _text_only("username")] = None
    dial_code: Annotated[str | None, _text_only("dial-code")] = Field(
        default=None, alias="dial-code", description='Country dial code as text, e.g. "+62" or "0044".'
    )
    phone: Annotated[str | None, _text_only("phone")] = Field(
        default=None, description='Phone number as text; leading zeros and + are kept, e.g. "0812 3456".'
    )
    hidden: Annotated[bool | None, BeforeValidator(_zero_one)] = None

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and not USERNAME.match(value):
            raise ValueError("must be 1-64 letters, digits or . _ @ + -")
        return value

    @field_validator("dial_code")
    @classmethod
    def _dial(cls, value: str | None) -> str | None:
        if value is not None and not _DIAL_CODE.match(value.strip()):
            raise ValueError("must be a dial code such as +62, 62, 0062 or +1-684")
        return None if value is None else value.strip()

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        digits = sum(ch.isdigit() for ch in text)
        if not _PHONE.match(text) or not 3 <= digits <= 20:
            raise ValueError("must be a phone number of 3-20 digits (spaces, dashes, dots, brackets allowed)")
        return text


class TransferRequest(Kebab):
    org_unit: str = Field(alias="org-unit", min_length=1, max_length=64)


class CandidateItem(Kebab):
    id: str
    email: str
    full_name: str = Field(alias="full-name")
    org_unit: str = Field(alias="org-unit")
    hidden: bool
    username: str | None = None
    dial_code: str | None = Field(default=None, alias="dial-code")
    phone: str | None = None
    status: str | None = None
    level: str | None = None
    test_type: str | None = Field(default=None, alias="test-type")
    source: str | None = None
    created_at: str = Field(alias="created-at")
    updated_at: str | None = Field(default=None, alias="updated-at")


class CandidatePage(Kebab):
    items: list[CandidateItem]
    next_cursor: str | None = Field(alias="next-cursor")


class CandidateInvitation(Kebab):
    test_invitation_id: int = Field(alias="test-invitation-id")
    test_id: int = Field(alias="test-id")
    status: str
    source: str | None = None
    org_unit: str = Field(alias="org-unit")
    created_at: str = Field(alias="created-at")
    updated_at: str | None = Field(default=None, alias="updated-at")
    results: list[dict[str, Any]] = Field(default_factory=list, description="Every result version.")


class CandidateTestId(Kebab):
    test_id: str = Field(alias="test-id")
    test_type: str = Field(alias="test-type")
    status: str
    product_code: str | None = Field(default=None, alias="product-code")
    assigned_at: str | None = Field(default=None, alias="assigned-at")
    results: list[dict[str, Any]] = Field(default_factory=list, description="Every result version.")


class CandidateDetail(CandidateItem):
    org_unit_path: str = Field(alias="org-unit-path")
    invitations: list[CandidateInvitation]
    test_ids: list[CandidateTestId] = Field(alias="test-ids")
    history: list[dict[str, Any]] = Field(description="Transfers and changes: who, when, what.")
    email_history: list[dict[str, Any]] = Field(
        alias="email-history",
        description="E-mail sent to the candidate (newest first, at most 50): template, event, status, "
        "SES message id, bounce or complaint feedback.",
    )


class ReportLink(Kebab):
    report_url: str = Field(alias="report-url", description="Presigned GET of the XLSX file.")
    expires_at: str = Field(alias="expires-at")
    rows: int
