"""End-to-end fixture: one local stack (moto + the template's resources + the HTTP front) per session.

It runs in this process and sets process-wide environment variables while it runs (every boto3 client
of the process talks to its moto), so run the e2e folder in its own pytest process when other tests
use ``mock_aws``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local import LocalStack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running :class:`LocalStack` on free ports, its state in a temporary directory."""
    with LocalStack(port=0, state_dir=tmp_path_factory.mktemp("local-stack") / ".local") as stack:
        yield stack
