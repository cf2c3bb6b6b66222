"""The local stack's Lambda runtime: one invocation per instance at a time, a new instance when all are busy."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from local.cfn import FunctionSpec
from local.lambdas import LocalFunction

HANDLER = """
import threading, time

INSTANCE = object()  # module-level state: one per execution environment
busy = threading.Lock()


def handler(event, context):
    # Two invocations at once on one instance would find the lock taken.
    if not busy.acquire(blocking=False):
        return {"overlap": True, "instance": id(INSTANCE)}
    try:
        time.sleep(event.get("sleep", 0))
        return {"overlap": False, "instance": id(INSTANCE)}
    finally:
        busy.release()
"""


def _function(tmp_path: Path) -> LocalFunction:
    (tmp_path / "app.py").write_text(HANDLER)
    spec = FunctionSpec(
        logical_id="PoolFunction",
        name="pool-function",
        code_dir=tmp_path,
        handler="app.handler",
        runtime="python3.13",
        memory_mb=128,
        timeout_s=3,
        environment={},
        properties={},
    )
    return LocalFunction(spec, "us-east-1", "123456789012")


def test_sequential_invocations_reuse_one_warm_instance(tmp_path):
    # Given a function
    function = _function(tmp_path)
    # When it is invoked five times one after another
    seen = {function.invoke({})["instance"] for _ in range(5)}
    # Then one instance served them all
    assert len(seen) == 1 and function.instances == 1


def test_concurrent_invocations_never_share_an_instance(tmp_path):
    # Given a function
    function = _function(tmp_path)
    # When twelve invocations run at once
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: function.invoke({"sleep": 0.2}), range(12)))
    # Then none ran beside another on the same instance, and more instances were started for them
    assert not any(reply["overlap"] for reply in replies)
    assert 2 <= function.instances <= 12
    assert len({reply["instance"] for reply in replies}) == function.instances


def test_instances_are_capped_and_extra_invocations_wait(tmp_path):
    # Given a function allowed two instances
    function = _function(tmp_path)
    function.MAX_INSTANCES = 2
    # When six invocations run at once
    started = threading.Barrier(6)

    def invoke(_: int) -> dict[str, object]:
        started.wait()
        return function.invoke({"sleep": 0.1})

    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(invoke, range(6)))
    # Then all were answered, by at most two instances, never two at once on one
    assert len(replies) == 6 and function.instances <= 2
    assert not any(reply["overlap"] for reply in replies)
