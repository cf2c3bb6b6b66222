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
    """One template function: its handler is imported once, lazily, under a unique module name."""

    def __init__(self, spec: FunctionSpec, region: str, account_id: str) -> None:
        self.spec = spec
        self.arn = f"arn:aws:lambda:{region}:{account_id}:function:{spec.name}"
        self._handler: Handler | None = None
        self._lock = threading.Lock()

    @property
    def module_name(self) -> str:
        # Several functions have an ``app.py``: the module name carries the function's logical id.
        stem = re.sub(r"\W", "_", self.spec.handler.rpartition(".")[0])
        return f"_local_lambda_{self.spec.logical_id}_{stem}"

    def handler(self) -> Handler:
        if self._handler is None:
            with self._lock:
                if self._handler is None:
                    self._handler = self._load()
        return self._handler

    def _load(self) -> Handler:
        path = self.spec.handler_file
        if not path.exists():
            raise FileNotFoundError(f"{self.spec.logical_id}: handler file {path} does not exist")
        module_spec = importlib.util.spec_from_file_location(self.module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        sys.modules[self.module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(self.module_name, None)
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
        """Call the handler (the timeout is reported by the context, not enforced)."""
        return self.handler()(event, context or self.context())


class LambdaRuntime:
    """Every function of a template, by logical id."""

    def __init__(self, specs: dict[str, FunctionSpec], region: str, account_id: str) -> None:
        self.functions = {lid: LocalFunction(spec, region, account_id) for lid, spec in specs.items()}

    def __getitem__(self, logical_id: str) -> LocalFunction:
        return self.functions[logical_id]
