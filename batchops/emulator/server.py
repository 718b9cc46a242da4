"""The launcher: moto's threaded server on 127.0.0.1 with the emulator's patches and extensions.

    with Emulator(home, execution_handler=handler) as emulator:
        s3 = emulator.client("s3")
        ...

One emulator per process (moto's state is process-wide). Extra HTTP routes beside moto's:
`GET /batchops-api/status`, `POST /batchops-api/fire-rule` (`{"rule": name}`), `POST /batchops-api/reset`.
`POST /moto-api/reset` also resets the extensions' own state.
"""

from __future__ import annotations

import os

# moto reads this when it builds the IAM backend; set before anything imports moto (fixes attaching
# AWS-managed policies such as AWSLambdaBasicExecutionRole).
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from moto.moto_api._internal.models import MotoAPIBackend, moto_api_backend  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from . import context, email_outbox, event_bus, model_registry, pipeline_executions, s3_notifications  # noqa: E402
from .contracts import ExecutionHandler  # noqa: E402
from .email_outbox import EmailOutbox  # noqa: E402
from .lambda_targets import LambdaInvoker  # noqa: E402
from .patching import Patcher  # noqa: E402
from .pipeline_executions import ExecutionRegistry  # noqa: E402
from .schedules import RuleNotFound, Scheduler, fire_rule_now  # noqa: E402

log = logging.getLogger("batchops.emulator")

HOST = "127.0.0.1"  # never another interface: with `localhost` S3 clients switch to virtual-host addressing
DEFAULT_REGION = "us-east-1"
API_PREFIX = "/batchops-api/"


def client_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """The environment a client (boto3, Terraform, a Lambda handler) needs to talk to the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_MAX_ATTEMPTS": "2",  # moto answers unimplemented calls with HTTP 500: never retry for minutes
    }


def format_exports(environment: dict[str, str]) -> str:
    return "\n".join(f"export {key}={value}" for key, value in environment.items())


class _Server(ThreadedMotoServer):
    """moto's threaded server with the emulator's routes in front and a socket that is really closed."""

    def __init__(self, port: int, routes: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes] | None]):
        super().__init__(ip_address=HOST, port=port, verbose=False)
        self._routes = routes

    def _server_entry(self) -> None:
        moto_app = DomainDispatcherApplication(create_backend_app)

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            handled = self._routes(environ, start_response)
            return handled if handled is not None else moto_app(environ, start_response)

        self._server = make_server(self._ip_address, self._port, application, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

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
        scheduler_clock: Callable[[], float] = time.time,
        scheduler_poll_seconds: float = 1.0,
    ):
        if port is not None and not 0 <= int(port) <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        self.home = Path(home).resolve()
        self.region = region
        self.requested_port = int(port or 0)
        self.execution_handler = execution_handler
        self.lambda_retry_delay_seconds = lambda_retry_delay_seconds
        self.scheduler = Scheduler(clock=scheduler_clock, poll_interval=scheduler_poll_seconds)
        self._patcher = Patcher()
        self._server: _Server | None = None
        self._context: context.EmulatorContext | None = None
        self.port: int | None = None

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
        self.home.mkdir(parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per HTTP request
        self._server = _Server(self.requested_port, self._route)
        try:
            self._server.start()
        except OSError as error:
            self._server = None
            raise RuntimeError(f"cannot listen on {HOST}:{self.requested_port}: {error}") from None
        self.port = self._server.get_host_and_port()[1]
        try:
            ctx = context.EmulatorContext(home=self.home, endpoint_url=self.endpoint_url, region=self.region)
            context.activate(ctx)
        except RuntimeError:
            self._server.stop()
            self._server = None
            raise
        self._context = ctx
        moto_api_backend.reset()  # a clean slate, built with this process's settings
        ctx.execution_handler = self.execution_handler
        ctx.lambda_invoker = LambdaInvoker(
            self.home, self.endpoint_url, self.region, retry_delay_seconds=self.lambda_retry_delay_seconds
        )
        ctx.outbox = EmailOutbox(self.home)
        ctx.executions = ExecutionRegistry(self.execution_handler, self.endpoint_url)
        self._install_patches()
        self.scheduler.start()
        self._wait_until_ready()
        log.info("local AWS emulator listening on %s (home %s)", self.endpoint_url, self.home)
        return self

    def _install_patches(self) -> None:
        event_bus.install(self._patcher)
        s3_notifications.install(self._patcher)
        email_outbox.install(self._patcher)
        model_registry.install(self._patcher)
        pipeline_executions.install(self._patcher)
        original_reset = MotoAPIBackend.reset

        def reset_with_extensions(backend: MotoAPIBackend) -> None:
            self._reset_extensions()
            original_reset(backend)

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
        self.scheduler.stop()
        if ctx is not None and ctx.executions is not None:
            ctx.executions.shutdown()
        if ctx is not None and ctx.lambda_invoker is not None:
            ctx.lambda_invoker.shutdown()
        self._server.stop()
        self._server = None
        self._patcher.restore_all()
        moto_api_backend.reset()  # moto's state is process-wide: leave none behind for the next user
        if ctx is not None:
            context.deactivate(ctx)
        self._context = None
        log.info("local AWS emulator on port %s stopped", self.port)

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
        self.scheduler.reset()

    def env(self) -> dict[str, str]:
        return client_environment(self.endpoint_url, self.region)

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=region or self.region
        )
        return session.client(
            service, endpoint_url=self.endpoint_url, config=Config(retries={"max_attempts": 2, "mode": "standard"})
        )

    def fire_rule_now(self, rule_name: str, *, region: str | None = None, event_bus: str = "default") -> dict:
        """Deliver a Scheduled Event to the rule's targets now; return the event."""
        ctx = self._require_context()
        return fire_rule_now(rule_name, account_id=ctx.account_id, region=region or self.region, event_bus=event_bus)

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
            if action == "fire-rule" and method == "POST":
                rule = body.get("rule")
                if not isinstance(rule, str) or not rule:
                    return _json_response(start_response, 400, {"error": 'body must be {"rule": "<rule name>"}'})
                event = self.fire_rule_now(rule, region=body.get("region"), event_bus=body.get("event_bus", "default"))
                return _json_response(start_response, 200, {"rule": rule, "event_id": event["id"]})
            if action == "reset" and method == "POST":
                moto_api_backend.reset()
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
        }


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
