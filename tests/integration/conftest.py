"""Integration tests: the real handlers on moto, with every resource created from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gateway import bootstrap, lifecycle
from local.cfn import Template
from local.resources import CreatedResources, create_resources
from tests.helpers import TEMPLATE, ApiClient

_MODULES: dict[str, Any] = {}  # handler modules are imported once per test process, like warm Lambdas
ADMIN_KEY = "integration-admin-key"


@dataclass
class Stack:
    template: Template
    resources: CreatedResources
    root: str
    api: ApiClient  # authenticated as the root admin

    def table(self, logical_id: str) -> str:
        return self.resources.tables[logical_id]

    def items(self, logical_id: str) -> list[dict[str, Any]]:
        client = boto3.client("dynamodb")
        pages = client.get_paginator("scan").paginate(TableName=self.table(logical_id))
        return [item for page in pages for item in page["Items"]]

    def snapshot(self, ignore: tuple[str, ...] = ()) -> dict[str, list[dict[str, Any]]]:
        return {lid: sorted(self.items(lid), key=repr) for lid in self.resources.tables if lid not in ignore}


PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def _offline_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DNS here: names under example.com resolve to a public address; IP literals and localhost as usual."""
    import ipaddress

    from gateway import ssrf

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            pass
        if host == "localhost":
            return ["127.0.0.1", "::1"]
        if host == "example.com" or host.endswith(".example.com"):
            return [PUBLIC_ADDRESS]
        raise OSError(f"cannot resolve {host}")

    monkeypatch.setattr(ssrf, "resolve", resolve)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        template = Template.load(TEMPLATE)
        resources = create_resources(template, lambda service: boto3.client(service))
        for name, value in template.lambda_environment().items():
            monkeypatch.setenv(name, value)
        lifecycle.reset_process()
        seeded = bootstrap.seed_root(api_key=ADMIN_KEY)
        yield Stack(template, resources, seeded["org_unit"], ApiClient(template, ADMIN_KEY, _MODULES))
        lifecycle.reset_process()
