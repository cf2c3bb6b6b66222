"""The test catalogue as fulfilment, registration and the results intake read it (issue 8): the catalogue
that applies to a unit is its own or its nearest ancestor's (a unit's catalogue replaces its parent's whole).

While no unit on the path has one, nothing is checked (the service behaves as before the catalogue existed);
once one applies, fulfilment (product code GTX-/STX-<test type>) and V2 registration (testId) only accept
test types it lists. Resolved catalogues are cached per instance for CACHE_SECONDS (the instance that saves
one forgets its cache at once), so a change reaches every warm instance within that time. This module reads
the stored records as they are, without pydantic, so the API functions' cold starts do not pay for the
models (gateway.catalogue_models: validation, plans, the resolved Catalogue).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from gateway.errors import InvalidInput
from gateway.repo import catalogue as repo

if TYPE_CHECKING:
    from gateway.catalogue_models import Catalogue

CACHE_SECONDS = 60.0  # as long as an authenticated key is trusted (KEY_CACHE_SECONDS)


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def get(self, path: str) -> tuple[bool, dict[str, Any] | None]:
        with self._lock:
            hit = self._items.get(path)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return True, hit[1]
        return False, None

    def put(self, path: str, value: dict[str, Any] | None) -> None:
        with self._lock:
            if len(self._items) > 5000:
                self._items.clear()
            self._items[path] = (time.monotonic(), value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = _Cache()


def unit_ids(unit_path: str) -> list[str]:
    return [part for part in unit_path.split("/") if part]


def record_for(unit_path: str) -> dict[str, Any] | None:
    """The stored catalogue that applies to a unit (one BatchGetItem over its path, then cached)."""
    hit, value = cache.get(unit_path)
    if hit:
        return value
    records = repo.get_many(unit_ids(unit_path))
    found = next((records[u] for u in reversed(unit_ids(unit_path)) if u in records), None)
    cache.put(unit_path, found)
    return found


def for_unit(unit_path: str) -> Catalogue | None:
    record = record_for(unit_path)
    if record is None:
        return None
    from gateway.catalogue_models import Catalogue

    return Catalogue.from_record(record)


def require_test_type(unit_path: str, name: str, field: str, message: str) -> None:
    """Refuse (400 `field: message`) a test type the applicable catalogue does not list."""
    record = record_for(unit_path)
    if record is not None and not any(
        str(t.get("name", "")).casefold() == name.casefold() for t in record.get("test_types", [])
    ):
        raise InvalidInput(field, message)


def require_test_id(unit_path: str, test_id: int) -> None:
    record = record_for(unit_path)
    if record is not None and not any(t.get("test-id") == test_id for t in record.get("test_types", [])):
        raise InvalidInput("testId", f"test {test_id} is not in the test catalogue of this organisation unit")
