"""One delivery attempt against a real receiver on 127.0.0.1 (http.server in a thread).

Covers replies (2xx, 5xx, 410, 3xx not followed), network failures (timeout, reset, refused) that must
come back as an Attempt instead of raising, the SSRF re-check at delivery time, and pinning: the
connection goes to the checked address with the original Host header (and, over TLS, SNI and
certificate check for the original name) without a second DNS lookup.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway import delivery_http, ssrf

BODY = b'{"type":"result.completed","data":{"TestID":"RM1"}}'
SIGNED = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,abc="}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    server: http.server.ThreadingHTTPServer
    scheme: str = "http"
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real receivers
    receiver: Receiver

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, extra: dict[str, str] | None = None, body: bytes = b"ok") -> None:
        self.send_response(status)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.receiver.seen.append(
            Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        path = self.path.split("?")[0]
        if path == "/ok":
            self._reply(200)
        elif path == "/accepted":
            self._reply(202, body=b"")
        elif path == "/fail":
            self._reply(500, body=b"boom")
        elif path == "/gone":
            self._reply(410, body=b"gone")
        elif path == "/redirect":
            self._reply(302, {"Location": self.receiver.url("/ok")}, b"")
        elif path == "/cookie":
            self._reply(200, {"Set-Cookie": "session=secret-of-receiver; Path=/"})
        elif path == "/endless":
            # Announces 100 MiB, sends 256 KiB, then stalls: only a reader that stops early returns soon.
            self.send_response(200)
            self.send_header("Content-Length", str(100 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"x" * (256 * 1024))
            self.wfile.flush()
            time.sleep(3)
            self.close_connection = True
        elif path == "/slow":
            time.sleep(3)
            self._reply(200)
        elif path == "/reset":
            # Abort: SO_LINGER 0 makes close() send a TCP RST instead of a clean FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif path == "/hangup":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        else:
            self._reply(404)


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    handler = type("BoundHandler", (Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    receiver = Receiver(server, scheme="https" if tls else "http")
    handler.receiver = receiver
    if tls is not None:
        tls.sni_callback = lambda sock, name, ctx: receiver.sni.append(name)  # type: ignore[assignment,misc]
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names under .test resolve to 127.0.0.1 for the SSRF check only; any other lookup of them fails.

    So a request that reaches the receiver through such a name proves the connection was pinned to
    the checked address rather than resolved again.
    """
    asked: list[str] = []
    real = socket.getaddrinfo

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host.endswith(".test"):
            return ["127.0.0.1"]
        return [str(ipaddress.ip_address(host))]

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".test"):
            raise AssertionError(f"second DNS lookup of {host}: the connection was not pinned")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(ssrf, "resolve", resolve)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def send(url: str, **kwargs: Any) -> delivery_http.Attempt:
    kwargs.setdefault("allow_loopback", True)
    return delivery_http.send(url, BODY, SIGNED, **kwargs)


def test_a_2xx_is_ok_and_the_body_and_headers_arrive(receiver):
    # When a delivery is sent to a receiver that answers 200
    attempt = send(receiver.url("/ok"))
    # Then it is ok, with the status, no error and a measured latency
    assert attempt == delivery_http.Attempt(status=200, latency_ms=attempt.latency_ms, error=None, ok=True)
    assert 0 <= attempt.latency_ms < 5000
    # And the receiver got the exact body and the signature headers
    (seen,) = receiver.seen
    assert seen.body == BODY
    assert {name: seen.headers[name] for name in SIGNED} == SIGNED
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert seen.headers["user-agent"] == delivery_http.USER_AGENT


def test_any_2xx_is_ok(receiver):
    attempt = send(receiver.url("/accepted"))
    assert attempt.ok and attempt.status == 202 and attempt.error is None


def test_a_500_is_a_failure_with_its_status(receiver):
    attempt = send(receiver.url("/fail"))
    assert (attempt.ok, attempt.status, attempt.error) == (False, 500, "HTTP 500")


def test_a_410_is_reported_as_410(receiver):
    attempt = send(receiver.url("/gone"))
    assert (attempt.ok, attempt.status) == (False, 410)


def test_a_redirect_is_not_followed_and_is_a_failure(receiver):
    # When the receiver answers 302 to another path of its own
    attempt = send(receiver.url("/redirect"))
    # Then the attempt fails with the 302, and the redirect target was never requested
    assert (attempt.ok, attempt.status) == (False, 302)
    assert "redirect" in (attempt.error or "")
    assert [s.path for s in receiver.seen] == ["/redirect"]


def test_a_receiver_slower_than_the_timeout_is_a_timeout(receiver):
    # Given a receiver that takes 3 s, when we allow 0.5 s
    attempt = send(receiver.url("/slow"), timeout=0.5)
    # Then the attempt gives up after about 0.5 s, without a status, saying why
    assert attempt.status is None and not attempt.ok
    assert "timeout" in (attempt.error or ""), attempt.error
    assert 400 <= attempt.latency_ms < 2500


def test_a_connection_reset_is_an_error_not_an_exception(receiver):
    attempt = send(receiver.url("/reset"))
    assert attempt.status is None and not attempt.ok
    assert "reset" in (attempt.error or "") or "closed" in (attempt.error or ""), attempt.error


def test_a_receiver_that_hangs_up_without_replying_is_an_error(receiver):
    attempt = send(receiver.url("/hangup"))
    assert attempt.status is None and not attempt.ok
    assert attempt.error and ("closed" in attempt.error or "reset" in attempt.error), attempt.error


def test_a_closed_port_is_connection_refused():
    # Given a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # When a delivery is sent there, then it is refused, reported, not raised
    attempt = send(f"http://127.0.0.1:{port}/hook")
    assert (attempt.status, attempt.ok, attempt.error) == (None, False, "connection refused")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_outside_the_local_stack_a_loopback_url_is_refused_before_any_request(receiver, scheme):
    # When the local-stack allowance is off, a loopback receiver is refused at delivery time
    url = receiver.url("/ok").replace("http://", f"{scheme}://")
    attempt = send(url, allow_loopback=False)
    # Then nothing reached the receiver, and the error says why
    assert (attempt.status, attempt.ok) == (None, False)
    assert attempt.error and attempt.error.startswith("not sent: url: "), attempt.error
    assert ("https" if scheme == "http" else "127.0.0.1") in attempt.error
    time.sleep(0.1)
    assert receiver.seen == []


@pytest.fixture
def no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any HTTP request at all fails the test: a refusal must come before the connection."""

    class Refusing:
        def post(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"a request was made: {args} {kwargs}")

    monkeypatch.setattr(delivery_http, "session", Refusing)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (
            "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "not sent: url: 169.254.169.254 is refused (cloud metadata address); "
            "webhooks only go to public addresses",
        ),
        ("https://[::1]/hook", "not sent: url: ::1 is refused (loopback address); webhooks only go to public addresses"),
        (
            "https://localhost/hook",
            "not sent: url: host localhost resolves to 127.0.0.1, which is refused (loopback address); "
            "webhooks only go to public addresses",
        ),
    ],
)
def test_outside_the_local_stack_metadata_ipv6_loopback_and_localhost_are_refused_at_delivery(
    no_request, url, error
):
    # When a delivery to one of them is attempted outside the local stack
    attempt = send(url, allow_loopback=False)
    # Then it is not sent (no request at all), and the attempt says why
    assert (attempt.status, attempt.ok, attempt.error) == (None, False, error)


def test_the_local_stacks_loopback_allowance_never_covers_the_metadata_address(no_request):
    attempt = send("http://169.254.169.254/latest/meta-data", allow_loopback=True)
    assert attempt.status is None and "cloud metadata address" in (attempt.error or "")


def test_localhost_reaches_a_receiver_only_in_the_local_stack(receiver):
    url = receiver.url("/ok", host="localhost")
    refused = send(url.replace("http://", "https://"), allow_loopback=False)
    assert refused.status is None and (refused.error or "").startswith("not sent: url: host localhost resolves")
    assert receiver.seen == []
    assert send(url, allow_loopback=True).ok  # the local stack allows loopback, so examples work
    assert receiver.seen[0].headers["host"] == f"localhost:{receiver.port}"


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(receiver, monkeypatch):
    # Given a name that resolved to a public address at registration and now (rebinding) to 10.0.0.1
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["10.0.0.1"])
    # When a delivery is attempted, then it is refused naming the address, and nothing is sent
    attempt = send("http://hooks.example.com/hook")
    assert attempt.status is None and "10.0.0.1" in (attempt.error or "")
    assert receiver.seen == []


def test_the_connection_is_pinned_to_the_checked_address_and_keeps_the_host_header(receiver, dns):
    # Given a name that resolves (for the check) to the receiver's address, and no other lookup of it
    url = receiver.url("/ok?x=1", host="receiver.test")
    # When a delivery is sent to it
    attempt = send(url)
    # Then it reached the receiver through the checked address, with the name in the Host header
    assert attempt.ok, attempt.error
    assert dns == ["receiver.test"]
    (seen,) = receiver.seen
    assert seen.headers["host"] == f"receiver.test:{receiver.port}"
    assert seen.path == "/ok?x=1"


def test_a_callers_host_header_cannot_redirect_the_request(receiver):
    attempt = delivery_http.send(
        receiver.url("/ok"), BODY, {**SIGNED, "host": "metadata.internal"}, allow_loopback=True
    )
    assert attempt.ok
    assert receiver.seen[0].headers["host"] == f"127.0.0.1:{receiver.port}"


def test_cookies_of_one_receiver_are_never_sent_on(receiver):
    # Given a receiver that sets a cookie
    assert send(receiver.url("/cookie")).ok
    # When the next delivery goes out (to the same address), then it carries no cookie
    assert send(receiver.url("/ok")).ok
    assert "cookie" not in receiver.seen[1].headers
    assert not delivery_http.session().cookies


def test_at_most_64_kib_of_a_reply_is_read(receiver):
    # Given a receiver that announces a huge 200 reply, sends 256 KiB of it and then stalls
    attempt = send(receiver.url("/endless"), timeout=2.5)
    # Then the attempt is ok and over long before the timeout: it stopped reading after 64 KiB
    assert attempt.ok and attempt.status == 200, attempt
    assert attempt.latency_ms < 1500, attempt


def test_consecutive_deliveries_to_one_receiver_all_arrive(receiver):
    for _ in range(3):
        assert send(receiver.url("/ok")).ok
    assert len(receiver.seen) == 3


# --- TLS: the pinned connection still checks the certificate against the original name ---------------


@dataclass
class Certs:
    ca_file: Path
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A private CA and a server certificate for receiver.test only."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer_name: Any, issuer_key: Any, key: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("receiver.test")]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("Test CA", None, ca_key, ca_key, True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = build("receiver.test", ca_cert.subject, ca_key, leaf_key, False)
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    return Certs(folder / "ca.pem", server)


@pytest.fixture
def tls_receiver(certs: Certs) -> Iterator[Receiver]:
    yield from _serve(certs.server)


@pytest.fixture
def trust_test_ca(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_http.session(), "verify", str(certs.ca_file))


def test_https_is_pinned_with_sni_and_certificate_check_for_the_original_name(
    tls_receiver, dns, trust_test_ca
):
    # Given an https receiver whose certificate names receiver.test, reached through its checked address
    attempt = send(tls_receiver.url("/ok", host="receiver.test"))
    # Then TLS named receiver.test (SNI), the certificate matched it, and the Host header kept it
    assert attempt.ok, attempt.error
    assert tls_receiver.sni == ["receiver.test"]
    assert tls_receiver.seen[0].headers["host"] == f"receiver.test:{tls_receiver.port}"


def test_https_to_a_name_the_certificate_does_not_cover_is_a_tls_error(tls_receiver, dns, trust_test_ca):
    # Given the same receiver reached under a name its certificate does not carry
    attempt = send(tls_receiver.url("/ok", host="other.test"))
    # Then the attempt fails on the certificate and nothing was posted
    assert attempt.status is None and not attempt.ok
    assert attempt.error and attempt.error.startswith("TLS error"), attempt.error
    assert "other.test" in attempt.error
    assert tls_receiver.seen == []


def test_https_with_an_untrusted_certificate_is_a_tls_error(tls_receiver, dns):
    # Given the default trust store (the test CA is not in it)
    attempt = send(tls_receiver.url("/ok", host="receiver.test"))
    # Then the certificate is refused
    assert attempt.status is None and attempt.error and attempt.error.startswith("TLS error"), attempt.error
    assert "certificate" in attempt.error.lower()
    assert tls_receiver.seen == []
