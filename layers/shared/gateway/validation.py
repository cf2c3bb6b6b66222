"""Field rules shared by the request contracts. Each raises ValueError with a reason a person can act on."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

MAX_EMAIL = 254
MAX_NAME = 200
MAX_URL = 2048
INT64_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32  # DynamoDB keeps documents nested at most 32 levels deep; no request needs more
LONE_SURROGATE = "must not contain lone surrogates (U+D800-U+DFFF)"
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str a valid pair is one code point: these are lone

# Pragmatic address check (RFC 5321 lengths, one @, a dotted domain, no spaces or control characters).
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def has_lone_surrogate(value: str) -> bool:
    """True when `value` holds a UTF-16 surrogate on its own (JSON's "\\ud800"): no UTF-8 encoding exists,
    so DynamoDB, e-mail and HTTP all refuse it."""
    return _SURROGATE.search(value) is not None


def _unicode(value: str) -> str:
    if has_lone_surrogate(value):
        raise ValueError(LONE_SURROGATE)
    return value


def _text(value: str) -> str:
    value = _unicode(value).strip()
    if not value:
        raise ValueError("must not be empty")
    if any(ord(ch) < 32 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _email(value: str) -> str:
    value = _unicode(value).strip()
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
    value = _unicode(value).strip()
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


def _plain_digits(value: object) -> object:
    """An id in a path: ASCII digits only (an optional minus, so that -5 is told it must be positive).
    `int()` alone would also take `1_000`, `+1`, ` 1` and other scripts' digits; pydantic's lax mode `1.0`."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError("must be an integer")
    return value


PlainInt = Annotated[int, BeforeValidator(_plain_digits)]
"""An integer sent as plain ASCII digits; bounds come from the route's `Path(...)` next to it."""


class JsonRefused(ValueError):
    """Why a JSON text was refused: `reason` as a client reads it, `field` the dotted path of the value at
    fault (object keys, list positions left out, as in validation errors), "" for the text as a whole."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


def loads_json(
    text: str | bytes,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """`json.loads` for untrusted text. Every way it can fail is a `JsonRefused` (a ValueError): malformed,
    nested deeper than `max_depth` (deep nesting would otherwise end in RecursionError), an integer past
    Python's int-string limit (a plain ValueError, not a JSONDecodeError), a lone surrogate in a key or a
    string. `parse_constant` as in `json.loads` (raise ValueError there to refuse NaN and Infinity)."""
    extra: dict[str, Any] = {"parse_constant": parse_constant} if parse_constant else {}
    try:
        value = json.loads(text, parse_int=_json_int, **extra)
    except JsonRefused:
        raise
    except RecursionError as exc:
        raise JsonRefused(f"is not valid JSON (nested deeper than {max_depth} levels)") from exc
    except ValueError as exc:  # JSONDecodeError, or parse_constant's refusal
        raise JsonRefused("is not valid JSON") from exc
    _check_tree(value, max_depth)
    return value


def _json_int(text: str) -> int:
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        raise JsonRefused(f"is not valid JSON (a number has more than {limit} digits)")
    return int(text)


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth and lone surrogates, without recursion, in document order."""
    pending: list[tuple[Any, tuple[str, ...], int]] = [(value, (), 1)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, str):
            if has_lone_surrogate(node):
                raise JsonRefused(LONE_SURROGATE, ".".join(path))
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            raise JsonRefused(f"is not valid JSON (nested deeper than {max_depth} levels)")
        if isinstance(node, list):
            pending.extend((child, path, depth + 1) for child in reversed(node))
            continue
        for key in node:
            if has_lone_surrogate(key):  # named by the object that holds it: the key itself cannot be shown
                raise JsonRefused(LONE_SURROGATE, ".".join(path))
        pending.extend((child, (*path, key), depth + 1) for key, child in reversed(node.items()))


# DynamoDB's range for non-zero numbers (boto3's context lets a little more through).
_DYNAMO_SMALLEST, _DYNAMO_TOO_LARGE = Decimal("1E-130"), Decimal("1E+126")
UNSTORABLE_NUMBER = (
    "must not hold a number DynamoDB cannot store (over 38 digits, or beyond 1E+125 or 1E-130)"
)


def storable_numbers(value: Any) -> bool:
    """True when every number in a JSON value fits DynamoDB's number type (38 significant digits, 1E-130 up
    to below 1E+126): boto3's serialiser raises on most others (decimal.Inexact, Rounded, ...), DynamoDB
    refuses the rest. NaN and Infinity are left to the caller (they have their own message)."""
    from boto3.dynamodb.types import DYNAMODB_CONTEXT

    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            number = Decimal(str(node))
            if not number.is_finite() or not number:
                continue
            try:
                DYNAMODB_CONTEXT.create_decimal(number)
            except ArithmeticError:
                return False
            if not _DYNAMO_SMALLEST <= abs(number) < _DYNAMO_TOO_LARGE:
                return False
    return True
