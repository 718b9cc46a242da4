"""EventBridge → Lambda: run the deployed function's real handler, asynchronously, with Lambda's own retries.

Each invocation runs in a warm execution environment (`workers`): a subprocess of this Python
(`sys.executable`) with the function's zip extracted first on sys.path and the function's environment plus
the emulator endpoint, dummy credentials and region, which imports the handler once and then serves events
one at a time (module-level state such as boto3 clients persists, as on AWS).

Asynchronous invocations (EventBridge targets, SNS subscriptions, Invoke with InvocationType=Event) follow
Lambda's rules, not EventBridge's: EventBridge hands the event to Lambda, and Lambda retries a failing function
per the function's event invoke config (MaximumRetryAttempts, default 2: 3 attempts in all; one minute, then two
minutes apart on AWS, `retry_delay_seconds` and twice that here; MaximumEventAgeInSeconds, default 6 hours),
then sends an invocation record to the config's DestinationConfig.OnFailure (an SQS queue or SNS topic here), or
else the event alone to the function's DeadLetterConfig
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html,
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). The rule target's
RetryPolicy and DeadLetterConfig cover only events EventBridge could not hand to Lambda at all (here: the
function does not exist) (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
Every attempt is appended to `<home>/lambda-invocations.jsonl`.

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

from .. import accounts
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
# Lambda's defaults for asynchronous invocation (PutFunctionEventInvokeConfig: MaximumRetryAttempts 0-2, default 2;
# MaximumEventAgeInSeconds 60-21600, default 21600).
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21600
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
    role_arn: str = ""  # the execution role: the handler's AWS calls are made with its credentials
    reserved_concurrency: int | None = None
    max_retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    max_event_age_seconds: float = DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
    on_failure_arn: str | None = None  # DestinationConfig.OnFailure.Destination of the event invoke config
    dead_letter_arn: str | None = None  # the function's own DeadLetterConfig.TargetArn

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
    request_id: str | None = None
    error_object: dict[str, Any] | None = None  # the runtime's error object when the handler failed

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
        role_arn=function.role,
        reserved_concurrency=_reserved_concurrency(function),
        **_async_settings(function),
    )


def _async_settings(function: Any) -> dict[str, Any]:
    """The function's event invoke config (moto appends every Put/Update: the last one is current) and DLQ."""
    configs = getattr(function, "event_invoke_config", None) or []
    config = configs[-1].config if configs else {}
    settings: dict[str, Any] = {
        "max_retry_attempts": int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)),
        "max_event_age_seconds": float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_SECONDS)),
        "on_failure_arn": ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination") or None,
    }
    dead_letter = getattr(function, "dead_letter_config", None) or {}
    settings["dead_letter_arn"] = dead_letter.get("TargetArn") or None if isinstance(dead_letter, dict) else None
    return settings


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
    return json.dumps(error_payload(result)).encode()


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

    def submit(self, *, rule: Any, target: dict[str, Any], payload: Any, event: dict[str, Any]) -> Future[Any] | None:
        """Hand an EventBridge event to Lambda's asynchronous queue; never blocks the API call that emitted it.

        When the function does not exist EventBridge cannot deliver: the event goes to the target's dead-letter
        queue (a missing function is not retried) and None is returned.
        """
        if self._closed.is_set():
            raise RuntimeError("the emulator is stopping; Lambda invocations are no longer accepted")
        try:
            function = find_deployed_function(target["Arn"])
        except Exception as error:
            self._undeliverable(rule, target, event, error)
            raise
        return self.submit_direct(function, payload, event_id=event.get("id"))

    def submit_direct(self, function: DeployedFunction, payload: Any, *, event_id: str | None = None) -> Future[Any]:
        """An asynchronous invocation (EventBridge, SNS, Invoke with InvocationType=Event): queued, retried by
        the function's event invoke config, then recorded at its on-failure destination."""
        delivery = _Delivery(function=function, payload=payload, event_id=event_id, queued_at=time.monotonic())
        return self._track(self._pool.submit(self._deliver_with_retries, delivery))

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
        function = delivery.function
        attempt = 0
        while True:
            attempt += 1
            result = self.invoke(function, delivery.payload, event_id=delivery.event_id, attempt=attempt)
            if result.succeeded or self._closed.is_set():
                return result
            if attempt > function.max_retry_attempts:
                condition = "RetriesExhausted"
                break
            delay = self.retry_delay_seconds * attempt  # AWS: 1 min, then 2 min
            if time.monotonic() + delay - delivery.queued_at > function.max_event_age_seconds:
                condition = "EventAgeExceeded"
                break
            time.sleep(delay)
        self._on_failure(delivery, result, attempt, condition)
        return result

    def _on_failure(self, delivery: _Delivery, result: InvocationResult, attempts: int, condition: str) -> None:
        """The invocation record to the on-failure destination, else the event to the function's DLQ, else gone."""
        function = delivery.function
        if function.on_failure_arn:
            record = invocation_record(function, delivery.payload, result, attempts, condition)
            destination, body = function.on_failure_arn, json.dumps(record)
        elif function.dead_letter_arn:
            destination, body = function.dead_letter_arn, json.dumps(delivery.payload)
        else:
            log.warning("Lambda %s failed %d time(s) (%s); it has no on-failure destination or dead-letter queue: "
                        "the event is discarded", function.name, attempts, condition)
            return
        try:
            _send(destination, body)
            log.info("event %s for %s sent to %s (%s)", delivery.event_id, function.name, destination, condition)
        except Exception as error:  # on AWS a DestinationDeliveryFailures metric; the record is lost
            log.warning("could not send the failed event %s of %s to %s: %s", delivery.event_id, function.name,
                        destination, error)

    def _undeliverable(self, rule: Any, target: dict[str, Any], event: dict[str, Any], error: Exception) -> None:
        """EventBridge could not hand the event to Lambda: the target's DLQ, with EventBridge's attributes
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
        dead_letter_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dead_letter_arn:
            return
        attributes = {
            "RULE_ARN": rule.arn,
            "TARGET_ARN": target["Arn"],
            "ERROR_CODE": "ResourceNotFoundException",
            "ERROR_MESSAGE": str(error)[:256],
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "RETRY_ATTEMPTS": "0",
        }
        try:
            _send(dead_letter_arn, json.dumps(event), attributes=attributes)
        except Exception as failure:
            log.warning("could not send event %s to dead-letter queue %s: %s", event.get("id"), dead_letter_arn,
                        failure)

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
                request_id=request_id,
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
                request_id=request_id,
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
            request_id=request_id,
            error_object=answer.error_object,
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
        region = _arn_fields(function.arn)[3] or self.region
        environment.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                # Lambda hands the handler its execution role's session (session name = the function's name),
                # so its calls are made in the role's account, as that role
                **accounts.role_credentials(function.role_arn, region, function.name),
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
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
    event_id: str | None
    queued_at: float


def invocation_record(
    function: DeployedFunction, payload: Any, result: InvocationResult, attempts: int, condition: str
) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": f"{function.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error_payload(result),
    }


def error_payload(result: InvocationResult) -> dict[str, Any]:
    """The error object of a failed invocation, as the Python runtime reports it: errorMessage, errorType,
    requestId, stackTrace (https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html); a timeout is
    Lambda's own message. Without the runtime's object (the environment died), the last line of its output."""
    if is_timeout_error(result.error):
        return {"errorMessage": f"{result.request_id} {result.error}"}
    if result.error_object:
        runtime = result.error_object
        return {"errorMessage": runtime.get("errorMessage", ""), "errorType": runtime.get("errorType", ""),
                "requestId": result.request_id, "stackTrace": runtime.get("stackTrace", [])}
    last_line = (result.stderr_tail.strip().splitlines()[-1:] or [result.error or "function error"])[0]
    error_type, separator, message = last_line.partition(": ")
    if separator and error_type.replace(".", "").replace("_", "").isalnum():
        return {"errorMessage": message, "errorType": error_type.rsplit(".", 1)[-1], "requestId": result.request_id}
    return {"errorMessage": last_line, "errorType": "Runtime.Error", "requestId": result.request_id}


def _send(destination_arn: str, body: str, *, attributes: dict[str, str] | None = None) -> None:
    """One message to an SQS queue or SNS topic of the emulator, by ARN."""
    service, region, account, resource = _arn_fields(destination_arn)[2:6]
    if service == "sqs":
        from moto.sqs.models import sqs_backends

        message_attributes = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}
        sqs_backends[account][region].send_message(resource, body, message_attributes=message_attributes)
    elif service == "sns":
        from moto.sns.models import sns_backends

        sns_backends[account][region].publish(message=body, arn=destination_arn)
    else:
        raise ValueError(f"destinations of service {service!r} are not delivered by the local emulator")


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
