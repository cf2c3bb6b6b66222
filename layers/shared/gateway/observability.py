"""Logs, traces and metrics of every function, configured in one place.

Every function's entry point gets its logger here (never a bare `Logger()`): the powertools Logger writes
JSON, and `MaskingFormatter` masks personal data and secrets in every line, whatever module logged it
(child loggers share the function's handler):

- e-mail addresses anywhere in a value: `amit.mishra@example.com` -> `***@example.com`;
- API keys (`key_<id>.<secret>` -> `key_<id>.***`: the id names the key, the secret never leaves) and
  webhook secrets (`whsec_***`);
- the whole value of fields whose name says they hold a secret (`x-api-key`, `authorization`,
  `x-signature`, `password`, `secret`, ...), whatever their format.

Tracing: `Tracing: Active` (template Globals) gives every function its X-Ray segment (init, invocation,
overhead). Queue and schedule workers also wrap their handler with `traced(...)`: the powertools Tracer with
subsegments for boto3 and requests calls, patching those two modules only (not every library the SDK
knows). API functions do so only when `API_XRAY_SDK=true` (template parameter `ApiXRaySdk`, for an
investigation): importing the X-Ray SDK costs about as much as the rest of their cold start together
(`make bench` -> `bundle.xray_sdk_import`), and API latency is what callers wait for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

F = TypeVar("F", bound=Callable[..., Any])

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?=[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_API_KEY = re.compile(r"\b(key_[0-9a-f]{16})\.[A-Za-z0-9_-]+")
_WEBHOOK_SECRET = re.compile(r"\bwhsec_[A-Za-z0-9+/=]+")
_SECRET_FIELDS = re.compile(r"api[-_]?key|authorization|signature|password|secret|token", re.I)
MASK = "***"


def mask_text(text: str) -> str:
    text = _EMAIL.sub(MASK + "@", text)
    text = _API_KEY.sub(r"\1." + MASK, text)
    return _WEBHOOK_SECRET.sub("whsec_" + MASK, text)


def mask(value: Any, field: str = "") -> Any:
    """`value` with e-mail addresses and secrets masked (dicts and lists walked)."""
    if field and _SECRET_FIELDS.search(field) and isinstance(value, str | bytes) and value:
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_text(str(value))  # e.g. the exception object in stack_trace.value


class MaskingFormatter(LambdaPowertoolsFormatter):
    """The powertools JSON formatter, masking each log line (message, extra keys, exception text)."""

    def serialize(self, log: Any) -> str:
        return super().serialize(mask(log))


@cache
def logger() -> Logger:
    """The function's logger (service from POWERTOOLS_SERVICE_NAME), JSON with masking."""
    return Logger(logger_formatter=MaskingFormatter())


TRACED_MODULES = ("boto3", "requests")


def api_tracing() -> bool:
    """Whether API functions load the X-Ray SDK too (an env switch, like POWERTOOLS_TRACE_DISABLED)."""
    return os.environ.get("API_XRAY_SDK", "false").strip().lower() == "true"


def traced(handler: F) -> F:
    """`handler` under the powertools Tracer (X-Ray subsegments for boto3 and requests calls)."""
    from aws_lambda_powertools import Tracer

    # Replies are not recorded in the trace: they may name candidates.
    wrapped: F = Tracer(patch_modules=TRACED_MODULES).capture_lambda_handler(handler, capture_response=False)  # type: ignore[assignment]
    return wrapped


def count(name: str, value: float = 1) -> None:
    """Add `value` to the EMF count metric `name` (namespace from POWERTOOLS_METRICS_NAMESPACE); flushed
    by the function's `log_metrics` after the invocation."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    Metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
