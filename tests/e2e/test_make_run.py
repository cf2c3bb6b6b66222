"""`make run` as a developer runs it: `python -m local` in its own process, configured by the environment.

PORT, LOCAL_STATE_DIR and LOCAL_ADMIN_API_KEY are what README's `make run` honours; the banner names the
root unit and the admin key, the key is written to `<state dir>/admin-api-key`, and what was registered is
still there after the process is stopped (SIGTERM, as Ctrl-C) and started again.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "key_5eedeadbeef00001.e2e-make-run-admin-secret"
READY = "Ctrl-C to stop."
START_TIMEOUT = 45


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """`python -m local` with its output read line by line in the background."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_ready(self) -> str:
        """The output up to the ready line (the banner), or a failure with what was printed."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.strip() == READY:
                return "\n".join(self.lines)
        self.stop()
        pytest.fail("python -m local did not get ready:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()  # SIGTERM: the stack saves its state and stops, as on Ctrl-C
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return int(self.popen.returncode)


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    """`make run`'s environment: a free PORT, the state in tmp_path, a chosen admin key; no AWS settings
    of this test process (an in-process stack of the session may have exported its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_", "MOTO_"))}
    env.update(
        PORT=str(_free_port()),
        LOCAL_STATE_DIR=str(tmp_path / "state" / ".local"),
        LOCAL_ADMIN_API_KEY=ADMIN_KEY,
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def started(run_env: dict[str, str]) -> Iterator[list[Process]]:
    processes: list[Process] = []
    yield processes
    for process in processes:
        process.stop()


def _start(run_env: dict[str, str], started: list[Process]) -> tuple[Process, str]:
    process = Process(run_env)
    started.append(process)
    return process, process.wait_ready()


def test_make_run_serves_the_api_with_the_chosen_key_and_keeps_state_across_a_restart(run_env, started):
    base = f"http://127.0.0.1:{run_env['PORT']}"
    state_dir = Path(run_env["LOCAL_STATE_DIR"])
    # Given `python -m local` started as `make run` starts it
    process, banner = _start(run_env, started)
    # Then the banner names the root unit, the admin key and where the key is written
    assert "Root unit     ou_root" in banner, banner
    assert f"Admin API key {ADMIN_KEY}" in banner, banner
    assert f"{base}" in banner and str(state_dir) in banner
    # And the key file in the chosen state folder holds that key
    assert (state_dir / "admin-api-key").read_text().strip() == ADMIN_KEY
    # And the stack is healthy and registers a candidate with that key
    assert requests.get(f"{base}/health", timeout=10).status_code == 200
    headers = {"x-api-key": ADMIN_KEY, "content-type": "application/json;charset=utf-8"}
    body = {
        "emailId": "amit.mishra@example.com",
        "fullName": "Amit Mishra",
        "callbackURL": "",
        "redirectURL": "",
    }
    reply = requests.post(f"{base}/v2/tests/1001/register", json=body, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    invitation = reply.json()["result"]["testInvitationId"]

    # When it is stopped (SIGTERM, as Ctrl-C) and started again on the same state folder
    assert process.stop() == 0, "\n".join(process.lines[-20:])
    _, banner = _start(run_env, started)

    # Then the invitation registered before the restart is still there, for the same key
    again = requests.get(f"{base}/v2/invitations/{invitation}", headers={"x-api-key": ADMIN_KEY}, timeout=30)
    assert again.status_code == 200, again.text
    stored = again.json()["result"]
    assert (stored["testInvitationId"], stored["emailId"], stored["testId"]) == (
        invitation,
        "amit.mishra@example.com",
        1001,
    )
    assert f"Admin API key {ADMIN_KEY}" in banner
