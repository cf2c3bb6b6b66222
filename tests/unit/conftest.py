"""Unit tests: pure domain code. No network: sockets are blocked for every test in this folder."""

import pytest
import pytest_socket

from gateway import aws, crypto


@pytest.fixture(autouse=True)
def _no_network():
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def master_key(monkeypatch):
    """A fixed master key instead of Secrets Manager."""
    monkeypatch.setattr(crypto, "master_key", lambda: b"unit-test-master-key")
    yield b"unit-test-master-key"
    aws.reset()
