"""Persistence of the local stack: ``<state dir>/state.json``.

The snapshot holds every template table's items (DynamoDB typed JSON, binary as base64), every S3
object (base64), every secret value and the SES outbox. It is written atomically (temporary file +
rename), about a second after the last request that changed something and on shutdown.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

STATE_VERSION = 1
STATE_FILE = "state.json"
ADMIN_KEY_FILE = "admin-api-key"


# ------------------------------------------------------------------------------------------------
# DynamoDB typed JSON <-> JSON-safe
# ------------------------------------------------------------------------------------------------


def encode_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB attribute value made JSON-safe (``B``/``BS`` bytes → base64 text)."""
    ((kind, data),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(data)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(item)).decode() for item in data]}
    if kind == "M":
        return {"M": {key: encode_attribute(item) for key, item in data.items()}}
    if kind == "L":
        return {"L": [encode_attribute(item) for item in data]}
    return {kind: data}


def decode_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`encode_attribute`."""
    ((kind, data),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(data)}
    if kind == "BS":
        return {"BS": [base64.b64decode(item) for item in data]}
    if kind == "M":
        return {"M": {key: decode_attribute(item) for key, item in data.items()}}
    if kind == "L":
        return {"L": [decode_attribute(item) for item in data]}
    return {kind: data}


def encode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: encode_attribute(value) for key, value in item.items()}


def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: decode_attribute(value) for key, value in item.items()}


# ------------------------------------------------------------------------------------------------
# Capture and restore
# ------------------------------------------------------------------------------------------------


def capture(
    table_items: Callable[[str], list[dict[str, Any]]],
    s3: Any,
    secretsmanager: Any,
    tables: Iterable[str],
    outbox: list[dict[str, Any]],
) -> dict[str, Any]:
    """Read the local AWS state: ``table_items(name)`` gives a table's items in snapshot form (see
    :func:`local.aws.table_items`); objects and secrets come through boto3 low-level clients."""
    state: dict[str, Any] = {"version": STATE_VERSION, "saved_at": time.time()}

    state["dynamodb"] = {table: table_items(table) for table in tables}

    state["s3"] = {}
    for bucket in s3.list_buckets().get("Buckets", []):
        objects: dict[str, Any] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for entry in page.get("Contents", []):
                response = s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])
                objects[entry["Key"]] = {
                    "body": base64.b64encode(response["Body"].read()).decode(),
                    "content_type": response.get("ContentType"),
                    "metadata": response.get("Metadata") or {},
                }
        state["s3"][bucket["Name"]] = objects

    state["secrets"] = {}
    for page in secretsmanager.get_paginator("list_secrets").paginate():
        for secret in page.get("SecretList", []):
            if secret.get("DeletedDate"):
                continue
            value = secretsmanager.get_secret_value(SecretId=secret["Name"])
            if "SecretString" in value:
                state["secrets"][secret["Name"]] = {"SecretString": value["SecretString"]}
            elif "SecretBinary" in value:
                state["secrets"][secret["Name"]] = {
                    "SecretBinary": base64.b64encode(value["SecretBinary"]).decode()
                }

    state["outbox"] = list(outbox)
    return state


def restore_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    """Write ``items`` (snapshot form) back into ``table``, 25 at a time."""
    for start in range(0, len(items), 25):
        requests = {
            table: [{"PutRequest": {"Item": decode_item(item)}} for item in items[start : start + 25]]
        }
        for _attempt in range(10):
            unprocessed = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            if not unprocessed:
                break
            requests = unprocessed
        else:
            raise RuntimeError(f"could not restore {table}: items left unprocessed")


def restore_objects(s3: Any, buckets: dict[str, dict[str, Any]]) -> None:
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for bucket, objects in buckets.items():
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        for key, entry in objects.items():
            request: dict[str, Any] = {
                "Bucket": bucket,
                "Key": key,
                "Body": base64.b64decode(entry["body"]),
                "Metadata": entry.get("metadata") or {},
            }
            if entry.get("content_type"):
                request["ContentType"] = entry["content_type"]
            s3.put_object(**request)


def restore_extra_secrets(
    secretsmanager: Any, saved: dict[str, dict[str, str]], existing: Iterable[str]
) -> None:
    """Recreate secrets that are in the snapshot but not in the template (made by code at run time)."""
    for name, value in saved.items():
        if name in set(existing):
            continue
        if "SecretString" in value:
            secretsmanager.create_secret(Name=name, SecretString=value["SecretString"])
        else:
            secretsmanager.create_secret(Name=name, SecretBinary=base64.b64decode(value["SecretBinary"]))


def secret_strings(state: dict[str, Any]) -> dict[str, str]:
    return {
        name: value["SecretString"]
        for name, value in (state.get("secrets") or {}).items()
        if "SecretString" in value
    }


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


class StateDir:
    """The state directory: ``state.json`` and ``admin-api-key``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    def load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise RuntimeError(
                f"{self.state_file} has an unknown format; delete {self.path} (make reset) to start afresh"
            )
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.write_text(STATE_FILE, json.dumps(state, separators=(",", ":")))

    def read_text(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def write_text(self, name: str, text: str) -> None:
        """Write ``name`` atomically: a reader sees the old file or the new one, never half of one."""
        self.path.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


# ------------------------------------------------------------------------------------------------
# Debounced snapshots
# ------------------------------------------------------------------------------------------------


class Debouncer:
    """Runs ``action`` in a background thread ``delay`` seconds after the last :meth:`touch`.

    Under a steady stream of changes it still runs at least every ``max_delay`` seconds.
    """

    def __init__(self, action: Callable[[], None], delay: float = 1.0, max_delay: float = 30.0) -> None:
        self._action = action
        self._delay = delay
        self._max_delay = max_delay
        self._condition = threading.Condition()
        self._last: float | None = None
        self._first: float | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="local-stack-snapshot", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def touch(self) -> None:
        """Note a change. Called for every write the stack serves, so it wakes the thread only when it is
        idle: once a run is pending, the thread wakes at its due time and reads the latest touch then."""
        with self._condition:
            now = time.monotonic()
            self._last = now
            if self._first is None:
                self._first = now
                self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._condition:
                while True:
                    if self._stopped:
                        return
                    if self._last is not None and self._first is not None:
                        due = min(self._last + self._delay, self._first + self._max_delay)
                        remaining = due - time.monotonic()
                        if remaining <= 0:
                            self._last = self._first = None
                            break
                        self._condition.wait(remaining)
                    else:
                        self._condition.wait()
            try:
                self._action()
            except Exception:
                print("local stack: snapshot failed:")
                traceback.print_exc()
