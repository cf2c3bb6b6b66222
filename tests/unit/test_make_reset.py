"""`make reset` clears the state folder the local stack uses: LOCAL_STATE_DIR when set, else .local."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _reset(workdir, **env):
    # The Makefile run from `workdir`, so its default `.local` is workdir/.local, never the repository's
    environment = {k: v for k, v in os.environ.items() if k != "LOCAL_STATE_DIR"} | env
    return subprocess.run(
        ["make", "-s", "-f", str(ROOT / "Makefile"), "-C", str(workdir), "reset"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _state(folder):
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("{}")
    (folder / "admin-api-key").write_text("key_0123456789abcdef.secret")
    return folder


def test_reset_clears_the_state_folder_named_by_local_state_dir(tmp_path):
    # Given a local stack state in the folder LOCAL_STATE_DIR names, and another one in the default place
    chosen = _state(tmp_path / "elsewhere" / "state")
    default = _state(tmp_path / "work" / ".local")
    # When `make reset` runs with LOCAL_STATE_DIR set
    done = _reset(tmp_path / "work", LOCAL_STATE_DIR=str(chosen))
    # Then the chosen folder is gone and the default one untouched
    assert done.returncode == 0, done.stderr
    assert not chosen.exists()
    assert (default / "state.json").exists()


def test_reset_clears_the_default_folder_without_the_variable(tmp_path):
    default = _state(tmp_path / "work" / ".local")
    done = _reset(tmp_path / "work")
    assert done.returncode == 0, done.stderr
    assert not default.exists() and (tmp_path / "work").exists()


def test_reset_refuses_to_remove_the_working_folder_itself(tmp_path):
    work = _state(tmp_path / "work")
    done = _reset(work, LOCAL_STATE_DIR=".")
    assert done.returncode != 0 and "refusing" in done.stdout + done.stderr
    assert (work / "state.json").exists()
