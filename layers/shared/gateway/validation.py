"""Field rules shared by the request contracts. Each raises ValueError with a reason a person can act on."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

MAX_EMAIL = 254
MAX_NAME = 200
MAX_URL = 2048
INT64_MAX = 2**63 - 1

# Pragmatic address check (RFC 5321 lengths, one @, a dotted domain, no spaces or control characters).
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if any(ord(ch) < 32 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_EMAIL:
        raise ValueError(f"must be at most {MAX_EMAIL} characters")
    if not _EMAIL.match(value) or ".." in value.split("@")[1] or value.split("@")[1].startswith("-"):
        raise ValueError("must be a valid e-mail address")
    return value


def _name(value: str) -> str:
    value = _text(value)
    if len(value) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters")
    return value


def _blank_is_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _url(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an absolute http(s) URL")
    return value


def _strict_str(value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a string")
    return value


Email = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_email)]
PersonName = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_name)]
OptionalUrl = Annotated[
    str | None,
    BeforeValidator(_strict_str),
    BeforeValidator(_blank_is_none),
    AfterValidator(lambda v: None if v is None else _url(v)),
]
ShortText = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_name)]
OptionalEmail = Annotated[
    str | None,
    BeforeValidator(_strict_str),
    BeforeValidator(_blank_is_none),
    AfterValidator(lambda v: None if v is None else _email(v)),
]
