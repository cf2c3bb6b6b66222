"""The embedded local stack: moto + the template's resources + the HTTP front, in this process."""

from __future__ import annotations

import atexit
import importlib
import os
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from local import aws, sandbox, state
from local.aws import EnvironmentPatch, MotoExchange, MotoServer
from local.cfn import Template
from local.lambdas import LambdaRuntime
from local.outbox import Outbox, accept_any_sender
from local.resources import CreatedResources, create_resources
from local.server import FrontServer, LocalHandler
from local.sesevents import SesEventPublisher
from local.triggers import TriggerContext, stop_triggers, wire_triggers

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_STATE_DIR = REPO_ROOT / ".local"
ROOT_UNIT_NAME = "Root"


class LocalStackError(RuntimeError):
    """The local stack cannot start (or is used wrongly)."""


class LocalStack:
    """moto's server with the template's resources, the API routes on localhost, state persisted.

    ::

        with LocalStack(port=0, state_dir=tmp_path / ".local") as stack:
            requests.get(f"{stack.base_url}/health", headers={"x-api-key": stack.admin_key})

    Only one runs per process at a time: it sets process-wide environment variables (every boto3
    client of the process talks to its moto) and moto's backends are process-global. ``stop()`` puts
    the environment back; a stopped stack can be started again.
    """

    _active: ClassVar[LocalStack | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        port: int = 3000,
        state_dir: Path | str | None = None,
        template: Path | str | None = None,
        parameters: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        moto_port: int = 0,
        snapshot_delay: float = 1.0,
    ) -> None:
        self.port = port
        self.state_dir = Path(state_dir) if state_dir is not None else DEFAULT_STATE_DIR
        self.template_path = Path(template) if template is not None else DEFAULT_TEMPLATE
        self.parameters = dict(parameters or {})
        self.env_overrides = dict(env or {})
        self.host = host
        self.moto_port = moto_port
        self.snapshot_delay = snapshot_delay

        self.template: Template | None = None
        self.server: FrontServer | None = None
        self.runtime: LambdaRuntime | None = None
        self.resources = CreatedResources()
        self.lambda_environment: dict[str, str] = {}
        self.admin_key: str | None = None
        self.admin_key_id: str | None = None
        self.root_unit: str | None = None
        self.engine_secret: str | None = None
        self.startup_seconds: float | None = None

        self._outbox = Outbox()
        self._moto: MotoServer | None = None
        self._env = EnvironmentPatch()
        self._state = state.StateDir(self.state_dir)
        self._debouncer: state.Debouncer | None = None
        self._triggers: TriggerContext | None = None
        self._clients: dict[str, Any] = {}
        self._snapshot_lock = threading.Lock()
        self._local_routes: list[tuple[str, str, LocalHandler]] = []
        self._running = False
        self._stopped = threading.Event()

    # -- public API ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return str(self._require(self.server, "front").base_url)

    @property
    def moto_url(self) -> str:
        return str(self._require(self._moto, "moto").url)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def triggers(self) -> TriggerContext:
        """The wired S3, SQS and schedule triggers (pollers, notifiers, schedules)."""
        return self._require(self._triggers, "triggers")  # type: ignore[no-any-return]

    def run_schedule(self, function_id: str) -> Any:
        """Run a function's template schedule now (as if its time had come); returns the function's reply."""
        for trigger in self.triggers.schedules:
            if trigger.function_id == function_id:
                return trigger.fire()
        raise LocalStackError(f"{function_id} has no schedule in the template")

    def outbox(self) -> list[dict[str, Any]]:
        """E-mails sent through the local SES, newest first."""
        return self._outbox.messages()

    def add_local_route(self, method: str, path_regex: str, handler: LocalHandler) -> None:
        """Serve an extra local-only route (kept across restarts); see :meth:`FrontServer.add_local_route`."""
        self._local_routes.append((method, path_regex, handler))
        if self.server is not None:
            self.server.add_local_route(method, path_regex, handler)

    def snapshot(self) -> Path:
        """Write the state (tables, objects, secrets, outbox) to ``<state dir>/state.json`` now."""
        from botocore.exceptions import ClientError

        with self._snapshot_lock:
            self._outbox.sync()
            try:
                captured = state.capture(
                    self._table_items,
                    self._client("s3"),
                    self._client("secretsmanager"),
                    tables=list(self.resources.tables.values()),
                    outbox=self._outbox.saved(),
                )
            except (ClientError, LookupError) as exc:
                if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") != (
                    "ResourceNotFoundException"
                ):
                    raise
                raise LocalStackError(
                    "a template table is gone: moto was reset outside the local stack (mock_aws in the "
                    f"same process?); {self._state.state_file} is left as it was"
                ) from exc
            self._state.save(captured)
        return self._state.state_file

    def _table_items(self, table: str) -> list[dict[str, Any]]:
        if self.template is None:
            raise LookupError(f"no table {table}: the stack is not started")
        return aws.table_items(table, self.template.account_id, self.template.region)

    def banner(self) -> str:
        base = self.base_url
        lines = [
            f"Local stack ready in {self.startup_seconds or 0:.1f}s",
            f"  API           {base}",
            f"  Swagger UI    {base}/swagger",
            f"  OpenAPI       {base}/openapi.json",
            f"  Outbox        {base}/local/outbox",
            f"  moto endpoint {self.moto_url}",
            f"  State         {self.state_dir}",
            f"  Root unit     {self.root_unit}",
            f"  Admin API key {self.admin_key}  (also in {self.state_dir}/{state.ADMIN_KEY_FILE})",
            f"  Engine secret {self.state_dir}/{sandbox.ENGINE_SECRET_FILE}  (signs POST /v1/results)",
            f"  Sandbox       takeTestURLs open {base}/sandbox/take/<token>",
        ]
        return "\n".join(lines)

    def wait(self) -> None:
        """Block until :meth:`stop` (for ``python -m local``)."""
        while not self._stopped.wait(0.5):
            pass

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        with LocalStack._active_lock:
            active = LocalStack._active
            if active is not None:
                raise LocalStackError(
                    f"another LocalStack is running in this process ({active.state_dir}); stop it first: "
                    "the stack sets process-wide environment variables and moto's backends are global"
                )
            LocalStack._active = self
        try:
            self._start()
        except BaseException:
            self._teardown(snapshot=False)
            raise

    def stop(self, snapshot: bool = True) -> None:
        """Snapshot (unless told not to), stop serving, stop moto and put the environment back."""
        if self._running:
            self._teardown(snapshot=snapshot)

    # -- internals -------------------------------------------------------------------------------

    def _start(self) -> None:
        started = time.monotonic()
        self._running = True
        self._stopped.clear()
        saved = self._state.load()
        template = Template.load(self.template_path, parameters=self.parameters)
        self.template = template
        lambda_environment = template.lambda_environment()  # fails early on conflicting variables

        aws.reset_moto()
        self._moto = MotoServer(self.host, self.moto_port)
        self._moto.start()
        template.endpoint_url = self._moto.url
        self._clients = {}

        self._outbox = Outbox(saved.get("outbox"))
        self._moto.app.observers.append(self._outbox.observe)
        accept_any_sender()

        self.runtime = LambdaRuntime(template.functions(), template.region, template.account_id)
        self.server = FrontServer(template, self.runtime, host=self.host, port=self.port, outbox=self._outbox)
        for method, path_regex, handler in self._local_routes:
            self.server.add_local_route(method, path_regex, handler)
        try:
            self.server.start()  # answers 503 until ready
        except OSError as exc:
            raise LocalStackError(
                f"cannot serve on {self.host}:{self.port} ({exc.strerror}); choose another PORT"
            ) from exc
        self.port = self.server.port  # a restart gets the same port back
        # The sandbox engine on this host is what takeTestURLs open locally (unless the caller chose another).
        self.parameters = {"TestEngineBaseUrl": f"http://{self.host}:{self.port}/sandbox", **self.parameters}
        template = Template.load(self.template_path, parameters=self.parameters)
        lambda_environment = template.lambda_environment()
        template.endpoint_url = self._moto.url
        self.template = template

        self.lambda_environment = {
            **lambda_environment,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": lambda_environment.get("POWERTOOLS_METRICS_NAMESPACE", "Local"),
            "LOCAL_STACK": "true",
        }
        self._env.apply(
            {**aws.aws_environment(self._moto.url), **self.lambda_environment, **self.env_overrides}
        )
        _forget_default_boto3_session()
        # New execution environments: nothing the shared layer cached for an earlier stack in this process
        # (settings, clients pointing at another moto, secrets, keys) survives.
        importlib.import_module("gateway.lifecycle").reset_process()

        # Resources, then the saved state, before anything else runs.
        secrets = state.secret_strings(saved)
        engine_secret_name = (
            template.physical_name("EngineSecret") if "EngineSecret" in template.resources_raw else None
        )
        if engine_secret_name and os.environ.get("LOCAL_ENGINE_SECRET"):
            secrets[engine_secret_name] = os.environ["LOCAL_ENGINE_SECRET"]
        self.resources = create_resources(template, self._client, secret_values=secrets)
        self._restore(saved)
        if self.snapshot_delay > 0:  # 0 or less: no background snapshots, only the one on stop
            self._debouncer = state.Debouncer(self._snapshot_quietly, delay=self.snapshot_delay)
            self._debouncer.start()
        self._moto.app.observers.append(self._on_exchange)

        self._triggers = TriggerContext(
            template, self.runtime, self._moto.url, observers=self._moto.app.observers
        )
        wire_triggers(self._triggers)
        # SES configuration sets' event destinations (send, bounce, complaint) -> their SNS topics.
        moto_url = self._moto.url
        ses_events = SesEventPublisher(template, lambda: aws.client("sns", moto_url))
        if ses_events.wired:
            self._moto.app.observers.append(ses_events.observe)
            ses_events.start()
            self._triggers.stoppers.append(ses_events.stop)
        self._seed()
        if engine_secret_name:
            self.engine_secret = self._client("secretsmanager").get_secret_value(SecretId=engine_secret_name)[
                "SecretString"
            ]
            self._state.write_text(sandbox.ENGINE_SECRET_FILE, self.engine_secret + "\n")
            for method, path_regex, handler in sandbox.Sandbox(self.base_url, self.engine_secret).routes():
                self.server.add_local_route(method, path_regex, handler)
        self.snapshot()
        atexit.register(self._at_exit)
        self.startup_seconds = time.monotonic() - started
        self.server.ready.set()

    def _restore(self, saved: dict[str, Any]) -> None:
        dynamodb = self._client("dynamodb")
        known_tables = set(self.resources.tables.values())
        for table, items in (saved.get("dynamodb") or {}).items():
            if table in known_tables:
                state.restore_items(dynamodb, table, items)
            else:
                print(f"local stack: table {table} is no longer in the template; its saved items are dropped")
        state.restore_objects(self._client("s3"), saved.get("s3") or {})
        state.restore_extra_secrets(
            self._client("secretsmanager"), saved.get("secrets") or {}, self.resources.secrets.values()
        )

    def _seed(self) -> None:
        api_key = os.environ.get("LOCAL_ADMIN_API_KEY") or self._state.read_text(state.ADMIN_KEY_FILE)
        bootstrap = importlib.import_module("gateway.bootstrap")
        seeded = bootstrap.seed_root(name=ROOT_UNIT_NAME, api_key=api_key)
        self.root_unit = str(seeded["org_unit"])
        self.admin_key_id = str(seeded["key_id"])
        self.admin_key = str(seeded["api_key"])
        self._state.write_text(state.ADMIN_KEY_FILE, self.admin_key + "\n")

    def _on_exchange(self, exchange: MotoExchange) -> None:
        if exchange.mutating and self._debouncer is not None:
            self._debouncer.touch()

    def _snapshot_quietly(self) -> None:
        if self._running:
            self.snapshot()

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = aws.client(service, self.moto_url)
        return self._clients[service]

    def _at_exit(self) -> None:
        self.stop()

    def _teardown(self, *, snapshot: bool) -> None:
        if self.server is not None:
            self.server.ready.clear()
        if self._triggers is not None:
            stop_triggers(self._triggers)
        if self._debouncer is not None:
            self._debouncer.stop()
            self._debouncer = None
        if self.server is not None:
            self.server.stop()
        if snapshot and self._moto is not None:
            try:
                self.snapshot()
            except LocalStackError as exc:
                print(f"local stack: final snapshot skipped: {exc}")
            except Exception:
                print("local stack: final snapshot failed:")
                traceback.print_exc()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        aws.reset_moto()
        self._env.restore()
        _forget_default_boto3_session()
        atexit.unregister(self._at_exit)
        self._running = False
        self._stopped.set()
        with LocalStack._active_lock:
            if LocalStack._active is self:
                LocalStack._active = None

    @staticmethod
    def _require(value: Any, what: str) -> Any:
        if value is None:
            raise LocalStackError(f"the local stack is not running ({what} not started)")
        return value


def _forget_default_boto3_session() -> None:
    """boto3's default session caches credentials and region: make the next one read the new env."""
    import boto3

    boto3.DEFAULT_SESSION = None
