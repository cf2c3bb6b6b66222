"""SSRF guard for customer-supplied callback and track URLs.

A URL is accepted only if it is https (plain http only in the local stack), names a host, carries no
user:password@, and EVERY address its host resolves to is a public internet address. Checked when the
URL is registered and again right before each delivery (DNS rebinding); the delivery then connects to
the address checked here, not to a fresh resolution (see gateway.delivery_http).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from gateway.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named explicitly, so the refusal says what the address is and does not depend on how a given
# Python version's `ipaddress` classifies it. Anything else that is not globally routable is refused too.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"): "cloud metadata address",  # AWS/GCP/Azure instance metadata
    ipaddress.ip_address("169.254.170.2"): "cloud metadata address",  # ECS / Lambda container credentials
    ipaddress.ip_address("fd00:ec2::254"): "cloud metadata address",  # AWS instance metadata over IPv6
    ipaddress.ip_address("fd00:ec2::23"): "cloud DNS address",  # Amazon-provided DNS over IPv6
}
_BLOCKED_V4 = [
    (ipaddress.ip_network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
]
_BLOCKED_V6 = [
    (ipaddress.ip_network(net), kind)
    for net, kind in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignment"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, IPv4 and IPv6, in the resolver's order, without duplicates.

    Module-level so tests can replace it. Raises OSError (socket.gaierror) if the name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _kind(ip: IPAddress) -> str | None:
    """What makes `ip` unfit as a webhook destination, or None for a public address."""
    if ip in _METADATA:
        return _METADATA[ip]
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address inside are judged by the IPv4 address they reach.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = _kind(embedded)
            if inner is not None:
                return f"{inner}, IPv6 form of {embedded}"
            if ip.ipv4_mapped is not None:
                return None
    blocked = _BLOCKED_V4 if isinstance(ip, ipaddress.IPv4Address) else _BLOCKED_V6
    for network, kind in blocked:
        if ip in network:
            return f"{kind} address"
    for flag in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{flag}"):
            return f"{flag.replace('_', '-')} address"
    if not ip.is_global:
        return "address that is not globally routable"
    return None


def _is_loopback(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def check_url(url: str, *, allow_loopback: bool, field: str = "url") -> list[str]:
    """The addresses `url`'s host resolves to, all checked; InvalidInput(field, reason) if unfit.

    `allow_loopback` (the local stack only) also allows plain http, to any host.
    """
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in url):
        raise InvalidInput(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(field, f"is not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_loopback else ("https",)
    if scheme not in allowed:
        raise InvalidInput(field, "must be an https:// URL")
    if "@" in parts.netloc:
        raise InvalidInput(field, "must not contain a user name or password (user:password@host)")
    host = parts.hostname
    if not host:
        raise InvalidInput(field, "must name a host")
    try:
        addresses = resolve(host, port or (443 if scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(field, f"host {host} does not resolve") from exc
    if not addresses:
        raise InvalidInput(field, f"host {host} does not resolve")
    checked: list[str] = []
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError as exc:
            raise InvalidInput(field, f"host {host} resolves to {address!r}, not an IP address") from exc
        kind = _kind(ip)
        if kind is not None and not (allow_loopback and _is_loopback(ip)):
            where = f"{ip} is" if host == str(ip) else f"host {host} resolves to {ip}, which is"
            raise InvalidInput(field, f"{where} refused ({kind}); webhooks only go to public addresses")
        checked.append(str(ip))
    return checked
