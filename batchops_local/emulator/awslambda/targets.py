"""EventBridge → Lambda: run the deployed function's real handler, asynchronously, with retries and a DLQ.

Each invocation runs in a warm execution environment (`workers`): a subprocess of this Python
(`sys.executable`) with the function's zip extracted first on sys.path and the function's environment plus
the emulator endpoint, dummy credentials and region, which imports the handler once and then serves events
one at a time (module-level state such as boto3 clients persists, as on AWS). A failing invocation is
retried per the target's RetryPolicy (default 2 retries, a short delay locally); then the event goes to the
target's DeadLetterConfig SQS queue. Every attempt is appended to `<home>/lambda-invocations.jsonl`.

Caveat: a dependency missing from the zip silently resolves from this environment's site-packages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..patching import Patcher
from .workers import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IDLE_SECONDS,
    ConcurrencyUnavailable,
    WorkerPool,
    WorkerSpec,
    is_timeout_error,
)

log = logging.getLogger("batchops_local.emulator.lambda")

INVOCATION_LOG_NAME = "lambda-invocations.jsonl"
DEFAULT_RETRY_ATTEMPTS = 2
MINIMUM_TIMEOUT_SECONDS = 30
OUTPUT_TAIL_CHARS = 4000


@dataclass(frozen=True)
class DeployedFunction:
    """What an invocation needs, captured from moto when the event arrives."""

    name: str
    arn: str
    handler: str
    code: bytes
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    reserved_concurrency: int | None = None

    @property
    def code_sha256(self) -> str:
        return hashlib.sha256(self.code).hexdigest()


@dataclass
class InvocationResult:
    function: str
    event_id: str | None
    attempt: int
    rc: int | None
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    result: Any = None
    error: str | None = None
    cold_start: bool | None = None
    worker_pid: int | None = None
    cpu_s: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.rc == 0


def read_invocation_log(home: Path) -> list[dict[str, Any]]:
    path = Path(home) / INVOCATION_LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def find_deployed_function(function_arn: str) -> DeployedFunction:
    from moto.awslambda.models import lambda_backends

    region, account = _arn_fields(function_arn)[3:5]
    return deployed_function(lambda_backends[account][region].get_function(function_arn))


def _arn_fields(arn: str) -> list[str]:
    """`arn:partition:service:region:account:resource` split into its six fields."""
    fields = arn.split(":", 5)
    if len(fields) != 6 or fields[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN")
    return fields


def deployed_function(function: Any) -> DeployedFunction:
    """What an invocation needs from moto's LambdaFunction."""
    if not function.handler:
        raise ValueError(f"Lambda function {function.function_name} has no handler configured")
    if not getattr(function, "code_bytes", b""):
        raise ValueError(f"Lambda function {function.function_name} has no zip deployment package")
    return DeployedFunction(
        name=function.function_name,
        arn=function.function_arn,
        handler=function.handler,
        code=function.code_bytes,
        environment=dict(function.environment_vars or {}),
        timeout_seconds=int(function.timeout or 3),
        memory_mb=int(function.memory_size or 128),
        reserved_concurrency=_reserved_concurrency(function),
    )


def _reserved_concurrency(function: Any) -> int | None:
    reserved = getattr(function, "reserved_concurrency", None)
    if reserved is None or reserved == "":
        return None
    try:
        return int(reserved)
    except (TypeError, ValueError):
        raise ValueError(
            f"Lambda function {function.function_name}: reserved concurrency {reserved!r} is not a whole number"
        ) from None


def install(patcher: Patcher) -> None:
    """The Invoke API runs the real handler too (moto would need Docker, or answer with a canned stub)."""
    from moto.awslambda.models import LambdaFunction

    patcher.replace(LambdaFunction, "invoke", _invoke_api)


def _invoke_api(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    from .. import context

    invoker = context.active().lambda_invoker
    if invoker is None:
        raise RuntimeError("the emulator has no Lambda invoker")
    payload = json.loads(body) if body else {}
    function = deployed_function(self)
    headers = {str(key).lower(): value for key, value in dict(request_headers or {}).items()}
    # No request headers: moto delivering for another service (SNS subscription, S3 notification, event
    # source mapping). Those deliveries are asynchronous on AWS, like an Invoke with InvocationType=Event.
    if not headers or headers.get("x-amz-invocation-type") == "Event":
        invoker.submit_direct(function, payload)
        return b""
    result = invoker.invoke(function, payload, event_id=None)
    logs = (result.stdout_tail + result.stderr_tail)[-4096:]
    response_headers["x-amz-log-result"] = base64.b64encode(logs.encode()).decode()
    if result.succeeded:
        return json.dumps(result.result).encode()
    response_headers["x-amz-function-error"] = "Unhandled"
    last_line = (result.stderr_tail.strip().splitlines()[-1:] or [result.error or "function error"])[0]
    error_type, _, message = last_line.partition(": ")
    error = {"errorMessage": message or last_line, "errorType": error_type if message else "Runtime.Error"}
    return json.dumps(error).encode()


class LambdaInvoker:
    def __init__(
        self,
        home: Path,
        endpoint_url: str,
        region: str,
        *,
        retry_delay_seconds: float = 0.2,
        max_workers: int = 4,
        default_concurrency: int = DEFAULT_CONCURRENCY,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        minimum_timeout_seconds: float = MINIMUM_TIMEOUT_SECONDS,
    ):
        self.home = Path(home)
        self.endpoint_url = endpoint_url
        self.region = region
        self.retry_delay_seconds = retry_delay_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda-target")
        self._code_root = Path(tempfile.mkdtemp(prefix="batchops-lambda-code-"))
        self._code_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._pending: set[Future[Any]] = set()
        self._pending_lock = threading.Lock()
        # Locally a cold start is slower than on AWS: short function timeouts are raised to this minimum.
        self.minimum_timeout_seconds = minimum_timeout_seconds
        self.workers = WorkerPool(default_concurrency=default_concurrency, idle_seconds=idle_seconds)
        self._closed = threading.Event()

    # ----------------------------------------------------------------- EventBridge target entry point

    def submit(self, *, rule: Any, target: dict[str, Any], payload: Any, event: dict[str, Any]) -> Future[Any]:
        """Queue an asynchronous invocation; never blocks the API call that emitted the event."""
        if self._closed.is_set():
            raise RuntimeError("the emulator is stopping; Lambda invocations are no longer accepted")
        function = find_deployed_function(target["Arn"])
        retry_policy = target.get("RetryPolicy") or {}
        delivery = _Delivery(
            function=function,
            payload=payload,
            event=event,
            rule_arn=rule.arn,
            target_arn=target["Arn"],
            dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
            max_retries=int(retry_policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)),
            max_event_age_seconds=retry_policy.get("MaximumEventAgeInSeconds"),
        )
        return self._track(self._pool.submit(self._deliver_with_retries, delivery))

    def submit_direct(self, function: DeployedFunction, payload: Any) -> Future[Any]:
        """An asynchronous Invoke (InvocationType=Event): one attempt in the background."""
        return self._track(self._pool.submit(self.invoke, function, payload, event_id=None))

    def _track(self, future: Future[Any]) -> Future[Any]:
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every queued invocation (and its retries) has finished; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._pending_lock:
                if not self._pending:
                    return True
            time.sleep(0.05)
        return False

    def _deliver_with_retries(self, delivery: _Delivery) -> InvocationResult:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            result = self.invoke(
                delivery.function, delivery.payload, event_id=delivery.event.get("id"), attempt=attempt
            )
            if result.succeeded or self._closed.is_set():
                return result
            too_old = delivery.max_event_age_seconds is not None and time.monotonic() - started >= float(
                delivery.max_event_age_seconds
            )
            if attempt > delivery.max_retries or too_old:
                break
            time.sleep(self.retry_delay_seconds * attempt)
        if delivery.dead_letter_arn:
            self._send_to_dead_letter_queue(delivery, result, attempt)
        else:
            log.warning(
                "Lambda %s failed %d time(s); the target has no dead-letter queue", delivery.function.name, attempt
            )
        return result

    def _send_to_dead_letter_queue(self, delivery: _Delivery, result: InvocationResult, attempts: int) -> None:
        from moto.sqs.models import sqs_backends

        # The exception line a handler's traceback ends with says most; else the runner's own note.
        error_message = (result.stderr_tail.strip().splitlines()[-1:] or [result.error or "function error"])[0]
        attributes = {
            "RULE_ARN": delivery.rule_arn,
            "TARGET_ARN": delivery.target_arn,
            "ERROR_CODE": "Timeout" if is_timeout_error(result.error) else "FunctionError",
            "ERROR_MESSAGE": str(error_message)[:256],
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "RETRY_ATTEMPTS": str(attempts - 1),
        }
        try:
            region, account, queue_name = _arn_fields(delivery.dead_letter_arn or "")[3:6]
            sqs_backends[account][region].send_message(
                queue_name,
                json.dumps(delivery.event),
                message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
            )
            log.info(
                "event %s for %s sent to dead-letter queue %s",
                delivery.event.get("id"),
                delivery.function.name,
                delivery.dead_letter_arn,
            )
        except Exception as error:
            log.warning(
                "could not send event %s to dead-letter queue %s: %s",
                delivery.event.get("id"),
                delivery.dead_letter_arn,
                error,
            )

    # ----------------------------------------------------------------- one invocation

    def invoke(
        self, function: DeployedFunction, payload: Any, *, event_id: str | None, attempt: int = 1
    ) -> InvocationResult:
        """Run the handler once on a warm (or new) execution environment and log the outcome."""
        request_id = str(uuid.uuid4())
        try:
            code_dir = self._extract(function)
        except (zipfile.BadZipFile, OSError) as error:
            failed = InvocationResult(
                function=function.name,
                event_id=event_id,
                attempt=attempt,
                rc=None,
                duration_s=0.0,
                stdout_tail="",
                stderr_tail="",
                error=f"cannot unpack the deployment package: {error}",
            )
            self._log(failed, request_id)
            return failed
        timeout = max(function.timeout_seconds, self.minimum_timeout_seconds)
        request = {
            "handler": function.handler,
            "code_dir": str(code_dir),
            "event": payload,
            "context": {
                "function_name": function.name,
                "invoked_function_arn": function.arn,
                "memory_limit_in_mb": function.memory_mb,
                "aws_request_id": request_id,
                "timeout_seconds": timeout,
            },
        }
        spec = WorkerSpec(
            function_arn=function.arn,
            code_sha256=function.code_sha256,
            handler=function.handler,
            code_dir=code_dir,
            environment=self._environment(function),
            timeout_seconds=timeout,
            reserved_concurrency=function.reserved_concurrency,
        )
        started = time.monotonic()
        try:
            answer = self.workers.run(spec, spec.environment, request, timeout)
        except (ConcurrencyUnavailable, RuntimeError, OSError) as error:
            failed = InvocationResult(
                function=function.name,
                event_id=event_id,
                attempt=attempt,
                rc=None,
                duration_s=round(time.monotonic() - started, 3),
                stdout_tail="",
                stderr_tail="",
                error=str(error),
            )
            self._log(failed, request_id)
            return failed
        result = InvocationResult(
            function=function.name,
            event_id=event_id,
            attempt=attempt,
            rc=answer.rc,
            duration_s=round(time.monotonic() - started, 3),
            stdout_tail=answer.stdout[-OUTPUT_TAIL_CHARS:],
            stderr_tail=answer.stderr[-OUTPUT_TAIL_CHARS:],
            result=answer.result if answer.rc == 0 else None,
            error=answer.error,
            cold_start=answer.cold_start,
            worker_pid=answer.worker_pid,
            cpu_s=answer.cpu_s,
        )
        self._log(result, request_id)
        return result

    def _environment(self, function: DeployedFunction) -> dict[str, str]:
        # A clean environment like Lambda's: nothing of the caller's (no real credentials) leaks in. The pool
        # adds HOME and TMPDIR: the environment's own scratch directory (Lambda's /tmp, kept while warm).
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        environment.update({key: str(value) for key, value in function.environment.items()})
        environment.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": _arn_fields(function.arn)[3] or self.region,
                "AWS_DEFAULT_REGION": _arn_fields(function.arn)[3] or self.region,
                "AWS_MAX_ATTEMPTS": "2",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            }
        )
        return environment

    def _extract(self, function: DeployedFunction) -> Path:
        """The deployment package extracted once per code version."""
        target = self._code_root / f"{function.name}-{function.code_sha256[:16]}"
        with self._code_lock:
            if not target.exists():
                partial = target.with_suffix(".partial")
                with zipfile.ZipFile(io.BytesIO(function.code)) as archive:
                    archive.extractall(partial)
                partial.rename(target)
        return target

    def _log(self, result: InvocationResult, request_id: str) -> None:
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "function": result.function,
            "event_id": result.event_id,
            "request_id": request_id,
            "attempt": result.attempt,
            "rc": result.rc,
            "duration_s": result.duration_s,
            "error": result.error,
            "result": result.result,
            "stdout_tail": result.stdout_tail,
            "stderr_tail": result.stderr_tail,
            "cold_start": result.cold_start,
            "worker_pid": result.worker_pid,
            "cpu_s": result.cpu_s,
        }
        with self._log_lock:
            self.home.mkdir(parents=True, exist_ok=True)
            with open(self.home / INVOCATION_LOG_NAME, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(record, default=str) + "\n")

    # ----------------------------------------------------------------- lifecycle

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting work, let running invocations finish for `timeout` seconds, then kill the rest."""
        self._closed.set()
        if not self.wait_idle(timeout):
            self.workers.stop_all(closing=True)  # running invocations fail and are not retried
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.workers.stop_all(closing=True)
        _remove_tree(self._code_root)


@dataclass
class _Delivery:
    function: DeployedFunction
    payload: Any
    event: dict[str, Any]
    rule_arn: str
    target_arn: str
    dead_letter_arn: str | None
    max_retries: int
    max_event_age_seconds: Any


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
