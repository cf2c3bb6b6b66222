"""SSRF guard for callback and track URLs: https only, no userinfo, every resolved address public.

DNS is replaced by a table (sockets are blocked in unit tests); IP literals resolve to themselves,
as getaddrinfo does.
"""

import ipaddress
import socket

import pytest

from gateway import ssrf
from gateway.errors import InvalidInput

DNS = {
    "hooks.example.com": ["93.184.215.14"],
    "dual.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "localhost": ["127.0.0.1", "::1"],
    "rebind.example.com": ["127.0.0.1"],
    "sneaky.example.com": ["93.184.215.14", "10.1.2.3"],  # one public, one private
    "v6only.example.com": ["fd00:ec2::254"],
}


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """A resolver that records what it was asked and answers from DNS."""
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return DNS[host]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return asked


def _refusal(url: str, *, allow_loopback: bool = False, field: str = "url") -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        ssrf.check_url(url, allow_loopback=allow_loopback, field=field)
    assert caught.value.field == field
    return caught.value


@pytest.mark.parametrize(
    ("url", "address", "kind"),
    [
        ("https://10.0.0.1/hook", "10.0.0.1", "private"),
        ("https://172.16.0.1/hook", "172.16.0.1", "private"),
        ("https://172.31.255.255/hook", "172.31.255.255", "private"),
        ("https://192.168.1.1/hook", "192.168.1.1", "private"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254", "cloud metadata"),
        ("https://169.254.170.2/v2/credentials", "169.254.170.2", "cloud metadata"),
        ("https://169.254.1.1/", "169.254.1.1", "link-local"),
        ("https://127.0.0.1/hook", "127.0.0.1", "loopback"),
        ("https://127.1.2.3:8443/hook", "127.1.2.3", "loopback"),
        ("https://localhost/hook", "127.0.0.1", "loopback"),
        ("https://rebind.example.com/hook", "127.0.0.1", "loopback"),
        ("https://[::1]/hook", "::1", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "::ffff:7f00:1", "loopback"),
        ("https://[::ffff:169.254.169.254]/hook", "::ffff:a9fe:a9fe", "cloud metadata"),
        ("https://[::ffff:10.0.0.1]/hook", "::ffff:a00:1", "private"),
        ("https://[fd00:ec2::254]/hook", "fd00:ec2::254", "cloud metadata"),
        ("https://v6only.example.com/hook", "fd00:ec2::254", "cloud metadata"),
        ("https://[fd12:3456::1]/hook", "fd12:3456::1", "unique local"),
        ("https://[fe80::1]/hook", "fe80::1", "link-local"),
        ("https://[64:ff9b::a9fe:a9fe]/hook", "64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("https://[2002:a00:1::]/hook", "2002:a00:1::", "private"),
        ("https://[::]/hook", "::", "unspecified"),
        ("https://[ff02::1]/hook", "ff02::1", "multicast"),
        ("https://100.64.0.1/hook", "100.64.0.1", "carrier-grade NAT"),
        ("https://100.127.255.254/hook", "100.127.255.254", "carrier-grade NAT"),
        ("https://0.0.0.0/hook", "0.0.0.0", "unspecified"),
        ("https://224.0.0.1/hook", "224.0.0.1", "multicast"),
        ("https://240.0.0.1/hook", "240.0.0.1", "reserved"),
        ("https://255.255.255.255/hook", "255.255.255.255", "reserved"),
        ("https://192.0.2.10/hook", "192.0.2.10", "documentation"),
        ("https://sneaky.example.com/hook", "10.1.2.3", "private"),
    ],
)
def test_addresses_that_are_not_public_are_refused_naming_the_address(url, address, kind):
    # Given a URL whose host is, or resolves to, a non-public address
    # When it is checked
    refusal = _refusal(url)
    # Then the reason names the address and what it is
    assert address in refusal.reason and kind in refusal.reason, refusal.reason
    assert "public" in refusal.reason


def test_a_name_resolving_to_loopback_says_so():
    refusal = _refusal("https://rebind.example.com/hook")
    assert refusal.reason.startswith("host rebind.example.com resolves to 127.0.0.1")


def test_a_public_address_is_accepted_and_every_address_is_returned(dns):
    # Given a host with a public IPv4 and a public IPv6 address
    # When it is checked
    addresses = ssrf.check_url("https://dual.example.com:8443/hooks?x=1", allow_loopback=False)
    # Then both are returned, and the resolver was asked for the URL's port
    assert addresses == ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    assert dns == [("dual.example.com", 8443)]


def test_the_default_port_is_asked_for(dns):
    ssrf.check_url("https://hooks.example.com/", allow_loopback=False)
    ssrf.check_url("http://hooks.example.com/", allow_loopback=True)
    assert dns == [("hooks.example.com", 443), ("hooks.example.com", 80)]


@pytest.mark.parametrize(
    "url", ["https://[::ffff:93.184.215.14]/hook", "https://93.184.215.14/hook", "HTTPS://Hooks.Example.com/"]
)
def test_public_literals_and_their_mapped_form_are_accepted(url):
    assert ssrf.check_url(url.replace("Hooks.Example.com", "hooks.example.com"), allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "http://localhost/hook", "https://[::1]/", "http://[::ffff:127.0.0.1]/"],
)
def test_loopback_and_plain_http_are_accepted_in_the_local_stack(url):
    # Given the local stack (allow_loopback), then loopback receivers over http are fine
    addresses = ssrf.check_url(url, allow_loopback=True)
    assert all(ipaddress.ip_address(a).is_loopback or a.startswith("::ffff:7f") for a in addresses)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://10.0.0.1/hook", "10.0.0.1"),
        ("http://169.254.169.254/", "169.254.169.254"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254"),
        ("http://0.0.0.0:8080/", "0.0.0.0"),
        ("http://sneaky.example.com/", "10.1.2.3"),
    ],
)
def test_the_local_stack_still_refuses_everything_else_that_is_not_public(url, address):
    assert address in _refusal(url, allow_loopback=True).reason


def test_plain_http_is_refused_outside_the_local_stack(dns):
    assert "https" in _refusal("http://hooks.example.com/hook").reason
    assert dns == []  # refused before any lookup


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/", "file:///etc/passwd", "gopher://x/", "hooks.example.com/x"]
)
def test_other_schemes_are_refused(url):
    assert "https" in _refusal(url, allow_loopback=True).reason


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@hooks.example.com/hook",
        "https://user@hooks.example.com/hook",
        "https://hooks.example.com@10.0.0.1/hook",
        "https://:@hooks.example.com/",
    ],
)
def test_userinfo_is_refused(url, dns):
    assert "user" in _refusal(url).reason
    assert dns == []


@pytest.mark.parametrize("url", ["https:///hook", "https://", "https://:443/"])
def test_a_url_without_a_host_is_refused(url):
    assert "host" in _refusal(url).reason


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com:99999/", "https://hooks.example.com:abc/", "https://[::1/"]
)
def test_a_malformed_url_is_refused(url):
    assert "not a valid URL" in _refusal(url, allow_loopback=True).reason


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/a b", "https://hooks.example.com/\r\nX-Evil: 1", " https://x/"]
)
def test_spaces_and_control_characters_are_refused(url):
    assert "control characters" in _refusal(url).reason


def test_a_host_that_does_not_resolve_is_refused():
    refusal = _refusal("https://no-such-host.invalid/hook")
    assert refusal.reason == "host no-such-host.invalid does not resolve"


def test_a_resolver_that_returns_nothing_is_a_refusal(monkeypatch):
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [])
    assert "does not resolve" in _refusal("https://hooks.example.com/").reason


def test_the_field_is_named_in_the_error():
    refusal = _refusal("https://10.0.0.1/", field="callbackURL")
    assert str(refusal).startswith("callbackURL: ")
    assert refusal.status == 400


def test_the_real_resolver_keeps_both_families_in_order_without_duplicates(monkeypatch):
    # Given the module's own resolver over a getaddrinfo that answers twice per address (TCP, and
    # as some resolvers do, once more) with IPv4 and IPv6 (with a flow info / scope id tuple)
    monkeypatch.undo()
    asked = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        asked.append((host, port, family, type))
        v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))
        v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800::1", port, 0, 0))
        return [v6, v4, v6, v4]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # Then every address is returned once, in the resolver's order, and no family was filtered out
    assert ssrf.resolve("hooks.example.com", 443) == ["2606:2800::1", "93.184.215.14"]
    assert asked == [("hooks.example.com", 443, 0, socket.SOCK_STREAM)]


def test_a_resolver_failure_is_a_refusal_not_a_crash(monkeypatch):
    monkeypatch.undo()

    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert _refusal("https://hooks.example.com/").reason == "host hooks.example.com does not resolve"
