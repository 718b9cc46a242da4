"""The launcher: moto's threaded server on 127.0.0.1 with the emulator's patches and extensions.

    with Emulator(home, execution_handler=handler) as emulator:
        s3 = emulator.client("s3")
        ...

One emulator per process (moto's state is process-wide). Extra HTTP routes beside moto's:
`GET /batchops-api/status`, `GET /batchops-api/executions` (those still running), `POST /batchops-api/fire-rule`
(`{"rule": name}`), `POST /batchops-api/reset`. `POST /moto-api/reset` also resets the extensions' own state.

With `state_path`, the state survives a restart (see `persistence`): restored on start, written after changes
(at most every `snapshot_interval_seconds`) and on stop. Without it (tests), nothing is written.
`restore_from` starts from a snapshot that is only read (a copy of a prepared state: the tests' shared stack);
`save_snapshot(path)` writes the current state to `path` once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict, backend_lock
from moto.core.model_instances import reset_model_data
from moto.moto_api._internal.models import MotoAPIBackend, moto_api_backend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from batchops_local.validation import gate as validation_gate

from . import accounts, awslambda, context, events, kms, persistence, s3, sagemaker, sns, sqs
from .awslambda.targets import MINIMUM_TIMEOUT_SECONDS, LambdaInvoker
from .awslambda.workers import DEFAULT_CONCURRENCY, DEFAULT_IDLE_SECONDS
from .contracts import ExecutionHandler, client_environment
from .events.bus import iso_time
from .events.schedules import RuleNotFound, Scheduler, fire_rule_now
from .patching import Patcher
from .sagemaker.pipeline_executions import ExecutionRegistry
from .service_warmup import ServiceWarmup
from .sns.email_outbox import EmailOutbox

# moto reads this each time it builds an IAM backend (not at import), so the launcher sets it only while an
# emulator runs (start/stop): AWS-managed policies such as AWSLambdaBasicExecutionRole must be attachable,
# but plain `moto.mock_aws` users in the same process must not pay for loading them on every start.
MANAGED_POLICIES_VARIABLE = "MOTO_IAM_LOAD_MANAGED_POLICIES"

log = logging.getLogger("batchops_local.emulator")

HOST = "127.0.0.1"  # never another interface: with `localhost` S3 clients switch to virtual-host addressing
DEFAULT_REGION = "us-east-1"
API_PREFIX = "/batchops-api/"


def clear_moto_state() -> None:
    """moto's reset, without rebuilding the IAM backend only to discard it.

    moto resets every backend before dropping it; IAM's reset merely re-initialises, which reloads every
    AWS-managed policy (about 2 s). Other backends' resets do real clean-up (S3's global bucket-name
    index, temporary files), so they still run.
    """
    from moto.iam.models import iam_backends

    with backend_lock:
        for backends in BackendDict._instances:
            if backends is not iam_backends:
                for account_backends in backends.values():
                    account_backends.reset()
            backends.clear()
        BackendDict._instances.clear()
    reset_model_data()


def format_exports(environment: dict[str, str]) -> str:
    return "\n".join(f"export {key}={value}" for key, value in environment.items())


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher with the host → service lookup remembered per host.

    moto answers it by listing its package directory (about 175 stat calls) and matching URL patterns on every
    request, under the dispatcher's one lock: about half the time of a small request here. The answer depends only
    on the host (`<service>.<region>.amazonaws.com`, a few per run) and the installed moto, so it is kept.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._backend_of_host: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backend_of_host:
            self._backend_of_host[host] = super().get_backend_for_host(host)
        return self._backend_of_host[host]


class _Server(ThreadedMotoServer):
    """moto's threaded server with the emulator's routes in front and a socket that is really closed."""

    def __init__(
        self,
        port: int,
        routes: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes] | None],
        after_request: Callable[[dict[str, Any]], None] | None = None,
    ):
        super().__init__(ip_address=HOST, port=port, verbose=False)
        self._routes = routes
        self._after_request = after_request
        self._start_error: BaseException | None = None
        self.dispatcher: DomainDispatcherApplication | None = None

    def start(self) -> None:
        super().start()
        error = self._start_error  # e.g. the port is taken: moto's own start() would wait forever
        if isinstance(error, SystemExit):  # werkzeug reports a taken port with sys.exit(1)
            raise OSError("the address is in use or cannot be bound")
        if error is not None:
            raise error

    def _server_entry(self) -> None:
        moto_app = self.dispatcher = _Dispatcher(create_backend_app)

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            handled = self._routes(environ, start_response)
            if handled is not None:
                return handled
            answered = moto_app(environ, start_response)  # moto has done the work once it returns
            if self._after_request is not None:
                self._after_request(environ)
            return answered

        try:
            self._server = make_server(
                self._ip_address, self._port, application, True, request_handler=MotoRequestHandler
            )
        except BaseException as error:
            self._start_error = error
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)  # stop() waits for one poll: keep it short

    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            self._server.server_close()


class Emulator:
    def __init__(
        self,
        home: Path | str,
        *,
        port: int | None = None,
        region: str = DEFAULT_REGION,
        execution_handler: ExecutionHandler | None = None,
        lambda_retry_delay_seconds: float = 0.2,
        lambda_idle_seconds: float = DEFAULT_IDLE_SECONDS,
        lambda_concurrency: int = DEFAULT_CONCURRENCY,
        lambda_minimum_timeout_seconds: float = MINIMUM_TIMEOUT_SECONDS,
        scheduler_clock: Callable[[], float] = time.time,
        scheduler_poll_seconds: float = 1.0,
        load_aws_managed_policies: bool = True,
        warm_up_services: bool = True,
        state_path: Path | str | None = None,
        snapshot_interval_seconds: float = persistence.DEFAULT_INTERVAL_SECONDS,
        restore_from: Path | str | None = None,
    ):
        if port is not None and not 0 <= int(port) <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        if state_path is not None and restore_from is not None:
            raise ValueError("give state_path (restored and kept up to date) or restore_from (only read), not both")
        self.home = Path(home).resolve()
        self.region = region
        self.requested_port = int(port or 0)
        self.execution_handler = execution_handler
        self.lambda_retry_delay_seconds = lambda_retry_delay_seconds
        self.lambda_options = {
            "idle_seconds": lambda_idle_seconds,
            "default_concurrency": lambda_concurrency,
            "minimum_timeout_seconds": lambda_minimum_timeout_seconds,
        }
        self.scheduler = Scheduler(clock=scheduler_clock, poll_interval=scheduler_poll_seconds)
        self.load_aws_managed_policies = load_aws_managed_policies
        self.warm_up_services = warm_up_services
        self.warmup: ServiceWarmup | None = None
        self._previous_managed_policy_setting: str | None = None
        self._patcher = Patcher()
        self._boto_session: Any = None
        self._session_lock = threading.Lock()
        self._server: _Server | None = None
        self._context: context.EmulatorContext | None = None
        self.port: int | None = None
        self.state_path = Path(state_path).resolve() if state_path is not None else None
        self.snapshot_interval_seconds = snapshot_interval_seconds
        self.restore_from = Path(restore_from).resolve() if restore_from is not None else None
        self.snapshotter: persistence.Snapshotter | None = None
        self.restored: dict[str, Any] | None = None  # the header of the snapshot restored on start
        self.interrupted: list[str] = []  # executions that were running in that snapshot (now Failed)

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError(f"the emulator is already running at {self.endpoint_url}")
        already = context.active_or_none()
        if already is not None:
            raise RuntimeError(
                f"a local AWS emulator is already running in this process at {already.endpoint_url}; "
                "moto's state is process-wide, so stop that one first"
            )
        if self.state_path is not None:
            persistence.read_header(self.state_path)  # refuse another moto's snapshot before listening
        if self.restore_from is not None and persistence.read_header(self.restore_from) is None:
            raise persistence.SnapshotError(f"{self.restore_from}: no emulator snapshot to restore from")
        self.home.mkdir(parents=True, exist_ok=True)
        # Terraform attaches AWS-managed policies (AWSLambdaBasicExecutionRole); loading them costs about 1.3 s
        # (on the warm-up thread), so tests that need no IAM policies may turn it off.
        self._previous_managed_policy_setting = os.environ.get(MANAGED_POLICIES_VARIABLE)
        os.environ[MANAGED_POLICIES_VARIABLE] = "true" if self.load_aws_managed_policies else "false"
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per HTTP request
        server = _Server(self.requested_port, self._route, self._after_request)
        try:
            server.start()
        except OSError as error:
            self._restore_managed_policy_setting()
            raise RuntimeError(f"cannot listen on {HOST}:{self.requested_port}: {error}") from None
        self._server = server
        self.port = server.get_host_and_port()[1]
        ctx = context.EmulatorContext(home=self.home, endpoint_url=self.endpoint_url, region=self.region)
        context.activate(ctx)
        self._context = ctx
        clear_moto_state()  # a clean slate, built with this process's settings
        ctx.execution_handler = self.execution_handler
        ctx.lambda_invoker = LambdaInvoker(
            self.home,
            self.endpoint_url,
            self.region,
            retry_delay_seconds=self.lambda_retry_delay_seconds,
            **self.lambda_options,
        )
        ctx.outbox = EmailOutbox(self.home)
        ctx.executions = ExecutionRegistry(self.execution_handler, self.endpoint_url)
        if self.state_path is not None or self.restore_from is not None:
            try:
                self._restore(ctx.executions)
            except BaseException:
                self.stop()
                raise
        self._install_patches()
        self._start_warmup(server.dispatcher)  # after the patches: handlers are built as on a first request
        self.scheduler.start()
        try:
            self._wait_until_ready()
        except RuntimeError:
            self.stop()
            raise
        log.info("local AWS emulator listening on %s (home %s)", self.endpoint_url, self.home)
        return self

    def _restore(self, registry: ExecutionRegistry) -> None:
        source = self.state_path or self.restore_from
        assert source is not None
        started = time.perf_counter()
        self.restored = persistence.load(source, registry)
        if self.restored is not None:
            self.interrupted = self.restored["interrupted"]
            log.info(
                "restored the emulator state from %s (written %s) in %.2f s",
                source,
                self.restored.get("written_at"),
                time.perf_counter() - started,
            )
        if self.state_path is not None:
            self.snapshotter = persistence.Snapshotter(self._write_snapshot, self.snapshot_interval_seconds).start()
            registry.on_change = self.snapshotter.changed

    def _write_snapshot(self) -> dict[str, Any]:
        assert self.state_path is not None
        return self.save_snapshot(self.state_path)

    def save_snapshot(self, path: Path | str) -> dict[str, Any]:
        """Write the current state to `path` now (atomically); its facts (bytes, seconds, header)."""
        path = Path(path)
        facts = persistence.save(path, self._require_context().executions)
        log.info("emulator snapshot: %d bytes in %.3f s (%s)", facts["bytes"], facts["seconds"], path)
        return facts

    def _after_request(self, environ: dict[str, Any]) -> None:
        if self.snapshotter is not None and environ.get("REQUEST_METHOD") not in ("GET", "HEAD", "OPTIONS"):
            self.snapshotter.changed()

    def _install_patches(self) -> None:
        # The request gate first: nothing out of AWS's contract reaches moto or the extensions
        validation_gate.install(self._patcher)
        accounts.install(self._patcher)
        for service in (events, s3, sqs, sns, awslambda, sagemaker, kms):  # one package per AWS service
            service.install(self._patcher)

        def reset_with_extensions(backend: MotoAPIBackend) -> None:
            self._reset_extensions()
            self._stop_warmup()  # never build backends while they are being dropped
            clear_moto_state()
            if self.state_path is not None and self.snapshotter is not None:
                persistence.discard(self.state_path)  # a reset is not undone by a restart
                self.snapshotter.changed()
            self._start_warmup(None)  # the handlers survive a reset; the IAM backends do not
            backend.__init__(backend.region_name, backend.account_id)  # type: ignore[misc]

        self._patcher.replace(MotoAPIBackend, "reset", reset_with_extensions)

    def _wait_until_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}{API_PREFIX}status", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator did not answer on {self.endpoint_url}: {error}") from None
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the scheduler, running executions, Lambda invocations and the server; forget all state."""
        if self._server is None:
            return
        ctx = self._context
        self._stop_warmup()
        self.scheduler.stop()
        if self.snapshotter is not None:
            # The last snapshot before the executions are stopped: those still running come back Failed
            self.snapshotter.stop()
            self.snapshotter.flush()
            self.snapshotter = None
        if ctx is not None and ctx.executions is not None:
            ctx.executions.shutdown()
        if ctx is not None and ctx.lambda_invoker is not None:
            ctx.lambda_invoker.shutdown()
        self._server.stop()
        self._server = None
        self._patcher.restore_all()
        clear_moto_state()  # moto's state is process-wide: leave none behind for the next user
        self._restore_managed_policy_setting()
        if ctx is not None:
            context.deactivate(ctx)
        self._context = None
        log.info("local AWS emulator on port %s stopped", self.port)

    def _start_warmup(self, dispatcher: DomainDispatcherApplication | None) -> None:
        if self.warm_up_services:
            self.warmup = ServiceWarmup(dispatcher, accounts.default_account_id()).start()

    def _stop_warmup(self) -> None:
        if self.warmup is not None:
            self.warmup.stop()
            self.warmup = None

    def _restore_managed_policy_setting(self) -> None:
        if self._previous_managed_policy_setting is None:
            os.environ.pop(MANAGED_POLICIES_VARIABLE, None)
        else:
            os.environ[MANAGED_POLICIES_VARIABLE] = self._previous_managed_policy_setting

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ operations

    def reset(self) -> None:
        """Forget every resource and the extensions' in-memory state (files under home are kept)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 200:
                raise RuntimeError(f"reset failed with HTTP {response.status}")

    def _reset_extensions(self) -> None:
        ctx = self._context
        if ctx is not None and ctx.executions is not None:
            ctx.executions.reset()
        if ctx is not None and ctx.lambda_invoker is not None:
            ctx.lambda_invoker.workers.stop_all()  # the functions are gone: so are their environments
        self.scheduler.reset()

    def env(self, account_id: str | None = None) -> dict[str, str]:
        """A client's environment; with `account_id`, keys of that account's administrator role (AssumeRole of
        `accounts.ADMIN_ROLE_NAME` there), so that any client (Terraform, a subprocess) acts in that account."""
        environment = client_environment(self.endpoint_url, self.region)
        if account_id is not None:
            environment.update(accounts.assume_role_over_http(
                self.endpoint_url, self.region, accounts.admin_role_arn(account_id), "batchops-local"))
        return environment

    def client(self, service: str, region: str | None = None, *, account_id: str | None = None) -> Any:
        """A boto3 client of the emulator; with `account_id`, every request is made in that account (moto's
        `x-moto-account-id` header) as the account's root."""
        from botocore.config import Config

        with self._session_lock:  # a boto3 session must not build clients on two threads at once
            client = self._session().client(
                service,
                region_name=region or self.region,
                endpoint_url=self.endpoint_url,
                config=Config(retries={"max_attempts": 2, "mode": "standard"}),
            )
        return client if account_id is None else accounts.select_account(client, account_id)

    def _session(self) -> Any:
        # One session for every client: botocore then loads each service model once.
        if self._boto_session is None:
            import boto3

            self._boto_session = boto3.session.Session(
                aws_access_key_id="test", aws_secret_access_key="test", region_name=self.region
            )
        return self._boto_session

    def fire_rule_now(
        self, rule_name: str, *, region: str | None = None, event_bus: str = "default", account_id: str | None = None
    ) -> dict:
        """Deliver a Scheduled Event to the rule's targets now (the rule of `account_id`, by default moto's
        default account); return the event."""
        self._require_context()
        account = accounts.check_account_id(account_id) if account_id is not None else accounts.default_account_id()
        return fire_rule_now(rule_name, account_id=account, region=region or self.region, event_bus=event_bus)

    def wait_for_lambdas(self, timeout: float = 60.0) -> bool:
        """Wait until every queued Lambda invocation (with retries) has finished."""
        invoker = self._require_context().lambda_invoker
        return invoker.wait_idle(timeout) if invoker is not None else True

    def wait_for_execution(self, execution_arn: str, timeout: float = 60.0) -> str:
        registry = self._require_context().executions
        if registry is None:
            raise RuntimeError("the emulator has no execution registry")
        return registry.wait(execution_arn, timeout)

    def _require_context(self) -> context.EmulatorContext:
        if self._context is None:
            raise RuntimeError("the emulator is not running")
        return self._context

    # ------------------------------------------------------------------ HTTP routes

    def _route(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(API_PREFIX):
            return None
        method = environ.get("REQUEST_METHOD", "GET")
        action = path[len(API_PREFIX) :].strip("/")
        try:
            body = _read_json(environ)
            if action == "status" and method == "GET":
                return _json_response(start_response, 200, self._status())
            if action == "executions" and method == "GET":
                return _json_response(start_response, 200, {"running": self._running_executions()})
            if action == "fire-rule" and method == "POST":
                rule = body.get("rule")
                if not isinstance(rule, str) or not rule:
                    return _json_response(start_response, 400, {"error": 'body must be {"rule": "<rule name>"}'})
                event = self.fire_rule_now(rule, region=body.get("region"), event_bus=body.get("event_bus", "default"),
                                           account_id=body.get("account_id"))
                return _json_response(start_response, 200, {"rule": rule, "event_id": event["id"]})
            if action == "reset" and method == "POST":
                moto_api_backend.reset()  # patched: the extensions' state too
                return _json_response(start_response, 200, {"reset": True})
            return _json_response(start_response, 404, {"error": f"no route {method} {path}"})
        except RuleNotFound as error:
            return _json_response(start_response, 404, {"error": str(error)})
        except ValueError as error:
            return _json_response(start_response, 400, {"error": str(error)})

    def _status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "home": str(self.home),
            "execution_handler": self.execution_handler is not None,
            "state_path": str(self.state_path) if self.state_path else None,
            "restored_from": str(self.restore_from) if self.restore_from else None,
            "last_snapshot": self.snapshotter.last if self.snapshotter else None,
            "snapshot_error": self.snapshotter.last_error if self.snapshotter else None,
        }

    def _running_executions(self) -> list[dict[str, Any]]:
        registry = self._require_context().executions
        return [
            {"arn": r.arn, "pipeline": r.pipeline_name, "status": r.status, "start_time": iso_time(r.start_time)}
            for r in (registry.running() if registry is not None else [])
        ]


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length:
        return {}
    raw = environ["wsgi.input"].read(length)
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    return body


def _json_response(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found"}
    data = json.dumps(body).encode()
    start_response(
        f"{status} {reasons[status]}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
