"""Load the template's Lambda handlers by file path and invoke them with a Lambda-like context."""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from local.cfn import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda Python context object that handlers use."""

    function_name: str
    function_version: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float = field(repr=False)
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One template function, run as Lambda runs it: each execution environment (instance) handles one
    invocation at a time, and a new one starts when every instance is busy (up to MAX_INSTANCES, then
    invocations wait for a free one).

    An instance is the handler module imported afresh under a unique module name, so each has its own
    module-level objects (the powertools resolver keeps per-request state on itself and is not safe to run
    two requests at once). The shared layer package is imported once per process and shared by all.
    """

    #: Instances one function may run at once in the local stack (Lambda scales much further; in one
    #: Python process more would only add memory).
    MAX_INSTANCES = 16

    def __init__(self, spec: FunctionSpec, region: str, account_id: str) -> None:
        self.spec = spec
        self.arn = f"arn:aws:lambda:{region}:{account_id}:function:{spec.name}"
        self._cond = threading.Condition()
        self._idle: list[Handler] = []
        self._instances: list[Handler] = []
        self._starting = 0

    @property
    def module_name(self) -> str:
        # Several functions have an ``app.py``: the module name carries the function's logical id.
        stem = re.sub(r"\W", "_", self.spec.handler.rpartition(".")[0])
        return f"_local_lambda_{self.spec.logical_id}_{stem}"

    @property
    def instances(self) -> int:
        """Execution environments started so far."""
        with self._cond:
            return len(self._instances)

    def handler(self) -> Handler:
        """The first instance's handler (started if need be), for callers that want to load it early."""
        with self._cond:
            if self._instances:
                return self._instances[0]
        handler = self._acquire()
        self._release(handler)
        return handler

    def _acquire(self) -> Handler:
        with self._cond:
            while True:
                if self._idle:
                    return self._idle.pop()
                if len(self._instances) + self._starting < self.MAX_INSTANCES:
                    self._starting += 1
                    index = len(self._instances) + self._starting - 1
                    break
                self._cond.wait()
        try:
            handler = self._load(index)
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
        with self._cond:
            self._instances.append(handler)
        return handler

    def _release(self, handler: Handler) -> None:
        with self._cond:
            self._idle.append(handler)
            self._cond.notify()

    def _load(self, index: int) -> Handler:
        path = self.spec.handler_file
        if not path.exists():
            raise FileNotFoundError(f"{self.spec.logical_id}: handler file {path} does not exist")
        name = self.module_name if index == 0 else f"{self.module_name}__{index}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        handler = getattr(module, self.spec.handler_function, None)
        if not callable(handler):
            raise AttributeError(f"{path} has no callable {self.spec.handler_function!r}")
        return handler  # type: ignore[no-any-return]

    def context(self) -> LambdaContext:
        request_id = str(uuid.uuid4())
        day = time.strftime("%Y/%m/%d", time.gmtime())
        return LambdaContext(
            function_name=self.spec.name,
            function_version="$LATEST",
            memory_limit_in_mb=self.spec.memory_mb,
            invoked_function_arn=self.arn,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{self.spec.name}",
            log_stream_name=f"{day}/[$LATEST]{uuid.uuid4().hex}",
            deadline=time.monotonic() + self.spec.timeout_s,
        )

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """Call the handler on a free instance (the timeout is reported by the context, not enforced)."""
        handler = self._acquire()
        try:
            return handler(event, context or self.context())
        finally:
            self._release(handler)


class LambdaRuntime:
    """Every function of a template, by logical id."""

    def __init__(self, specs: dict[str, FunctionSpec], region: str, account_id: str) -> None:
        self.functions = {lid: LocalFunction(spec, region, account_id) for lid, spec in specs.items()}

    def __getitem__(self, logical_id: str) -> LocalFunction:
        return self.functions[logical_id]
