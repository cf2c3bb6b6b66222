"""One webhook delivery attempt: an HTTP POST that never raises for network trouble.

The URL is checked again by the SSRF guard right before the attempt (its DNS may have changed since it
was registered) and the connection is PINNED to the address that was checked: the request goes to
that IP, with the original Host header, and for https with the original host name as TLS SNI and as the
name the certificate must match. A second DNS lookup, which could answer differently, never happens.

Redirects are not followed (a 3xx is a failed attempt), at most 64 KiB of the reply is read and then
dropped, no cookies are kept, and environment proxies / .netrc are ignored.
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from gateway import ssrf
from gateway.errors import InvalidInput

MAX_REPLY_BYTES = 64 * 1024
USER_AGENT = "AssessmentGateway-Webhooks/1"
_ERROR_CHARS = 200
# What requests, urllib3, http.client and sockets raise for trouble on the wire.
_NETWORK_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: the HTTP status (None if no reply), wall time, and why it failed."""

    status: int | None
    latency_ms: int
    error: str | None  # None when ok; otherwise a short reason ("HTTP 500", "timeout: …", …)
    ok: bool  # a 2xx reply


def _host_of(host_header: str) -> str:
    """The host name in a Host header value ("example.com:8443" -> "example.com", "[::1]:80" -> "::1")."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


class PinnedAdapter(HTTPAdapter):
    """Connects to the IP in the URL while TLS (SNI and certificate check) uses the Host header's name."""

    # The stubs type these dicts as TypedDicts that omit server_hostname / assert_hostname.
    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = cast(
            "tuple[dict[str, Any], dict[str, Any]]",
            super().build_connection_pool_key_attributes(request, verify, cert),
        )
        host_header = request.headers.get("Host")
        if host_params.get("scheme") == "https" and host_header:
            hostname = _host_of(host_header)
            # Both are part of urllib3's pool key, so a connection is only reused for the same name.
            pool_kwargs["server_hostname"] = hostname
            pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs


@lru_cache(maxsize=1)
def session() -> requests.Session:
    """The module's HTTP session, built on first use (not at import)."""
    built = requests.Session()
    built.trust_env = False  # no proxies or .netrc from the environment: they would defeat pinning
    # Keep no cookies: they would be stored under the pinned IP and sent to other hosts sharing it.
    built.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = PinnedAdapter(max_retries=0)  # a POST is sent once; the queue does the retrying
    built.mount("https://", adapter)
    built.mount("http://", adapter)
    return built


def _pinned(url: str, address: str) -> tuple[str, str]:
    """The URL with the checked address in place of the host name, and the Host header to send."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    port = f":{parts.port}" if parts.port is not None else ""
    ip = ipaddress.ip_address(address)
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    shown_host = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    pinned = urlunsplit((parts.scheme.lower(), netloc + port, parts.path or "/", parts.query, ""))
    return pinned, shown_host + port


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception requests/urllib3 wrapped (they nest them in args as well as __cause__)."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = next(
            (arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)),
            None,
        )
        inner = inner or getattr(current, "reason", None) or current.__cause__ or current.__context__
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def _reason(exc: BaseException, timeout: float) -> str:
    """A short, stable description of a failed attempt."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"timeout: no connection within {timeout:g} s"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timeout: no reply within {timeout:g} s"
    cause = _root_cause(exc)
    if isinstance(cause, TimeoutError | urllib3.exceptions.TimeoutError):
        return f"timeout: no reply within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(cause, ssl.SSLError):
        detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None) or cause
        return _short(f"TLS error: {detail}")
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ConnectionResetError):
        return "connection reset by the receiver"
    if isinstance(cause, http.client.RemoteDisconnected):
        return "connection closed by the receiver without a reply"
    if isinstance(cause, OSError) and cause.strerror:
        return _short(f"connection failed: {cause.strerror}")
    return _short(f"request failed: {type(cause).__name__}: {cause}")


def _drain(response: requests.Response, deadline: float) -> None:
    """Read (and drop) at most MAX_REPLY_BYTES of the reply, so a small reply frees the connection."""
    remaining = MAX_REPLY_BYTES
    try:
        while remaining > 0 and time.monotonic() < deadline:
            chunk = response.raw.read(min(remaining, 16 * 1024), decode_content=False)
            if not chunk:
                break
            remaining -= len(chunk)
    except _NETWORK_ERRORS:
        pass  # the status line is the verdict; a reply body cut short changes nothing
    finally:
        response.close()


def send(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_loopback: bool,
    timeout: float = 10.0,
) -> Attempt:
    """POST `body` to `url` once. Network trouble, TLS errors and SSRF refusals come back as an
    Attempt with status None; only programming errors raise. `timeout` bounds connect + reply.

    latency_ms is the attempt's wall time (address check, connect, reply, reading the reply).
    """
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> Attempt:
        elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(status=status, latency_ms=elapsed, error=error, ok=error is None)

    try:
        addresses = ssrf.check_url(url, allow_loopback=allow_loopback)
        pinned_url, host_header = _pinned(url, addresses[0])
    except InvalidInput as exc:
        return done(None, _short(f"not sent: {exc.description}"))
    except (UnicodeError, ValueError) as exc:
        return done(None, _short(f"not sent: url: {exc}"))
    # Case-insensitive, so a caller's "user-agent" replaces ours; a caller's Host never applies.
    request_headers = CaseInsensitiveDict({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    request_headers.update(headers)
    request_headers["Host"] = host_header
    # Connect + reply within `timeout` in all (urllib3 Timeout, which requests passes through as is).
    budget: Any = urllib3.Timeout(total=timeout)
    try:
        response = session().post(
            pinned_url,
            data=body,
            headers=request_headers,
            timeout=budget,
            allow_redirects=False,
            stream=True,
        )
    except _NETWORK_ERRORS as exc:
        return done(None, _reason(exc, timeout))
    status = response.status_code
    _drain(response, started + timeout)
    if 200 <= status < 300:
        return done(status, None)
    if 300 <= status < 400:
        return done(status, f"HTTP {status}: redirects are not followed")
    return done(status, f"HTTP {status}")
