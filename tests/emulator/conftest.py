"""Fixtures for the emulator's own tests: a fresh emulator per test (always stopped), and small AWS helpers."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from batchops_local.emulator.contracts import ExecutionRequest, ExecutionSink

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/emulator-test"


class RecordingHandler:
    """An execution handler for tests: records requests, then runs `behaviour(request, sink)` if set."""

    def __init__(self) -> None:
        self.requests: list[ExecutionRequest] = []
        self.behaviour: Callable[[ExecutionRequest, ExecutionSink], None] | None = None
        self.called = threading.Event()

    def __call__(self, request: ExecutionRequest, sink: ExecutionSink) -> None:
        self.requests.append(request)
        self.called.set()
        if self.behaviour is not None:
            self.behaviour(request, sink)
        else:
            sink.execution_status(request.execution_arn, "Succeeded")


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def emulator(tmp_path, handler) -> Iterator[Any]:
    from batchops_local.emulator import Emulator

    instance = Emulator(
        tmp_path / "home", execution_handler=handler, lambda_retry_delay_seconds=0.05, load_aws_managed_policies=False
    )
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_until


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


class Aws:
    """Thin helpers over boto3 clients of the running emulator."""

    def __init__(self, emulator: Any):
        self.emulator = emulator
        self._clients: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._clients:
            self._clients[service] = self.emulator.client("lambda" if service == "awslambda" else service)
        return self._clients[service]

    def role(self) -> str:
        try:
            self.iam.create_role(
                RoleName="emulator-test",
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
            )
        except self.iam.exceptions.EntityAlreadyExistsException:
            pass
        return ROLE_ARN

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message now in the queue (received and deleted)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            received = batch.get("Messages", [])
            if not received:
                return messages
            for message in received:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            messages.extend(received)

    def capture(self, rule: str, pattern: dict[str, Any]) -> str:
        """A rule with `pattern` whose SQS target collects the matching events; returns the queue URL."""
        url, arn = self.queue(f"{rule}-events")
        self.events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=rule, Targets=[{"Id": "capture", "Arn": arn}])
        return url

    def events_in(self, url: str) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.drain(url)]

    def bucket(self, name: str) -> str:
        self.s3.create_bucket(Bucket=name)
        self.s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        return name

    def topic_with_emails(self, name: str, recipients: list[str]) -> str:
        arn = self.sns.create_topic(Name=name)["TopicArn"]
        for recipient in recipients:
            self.sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=recipient)
        return arn

    def function(
        self, name: str, source: str, environment: dict[str, str] | None = None, handler: str = "app.handler"
    ) -> str:
        response = self.awslambda.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role(),
            Handler=handler,
            Code={"ZipFile": make_zip({handler.split(".")[0] + ".py": source})},
            Environment={"Variables": environment or {}},
            Timeout=30,
        )
        return response["FunctionArn"]

    def pipeline(self, name: str, parameters: list[str] | None = None) -> str:
        definition = {
            "Version": "2020-12-01",
            "Parameters": [{"Name": p, "Type": "String"} for p in (parameters or [])],
            "Steps": [],
        }
        return self.sagemaker.create_pipeline(
            PipelineName=name, PipelineDefinition=json.dumps(definition), RoleArn=self.role()
        )["PipelineArn"]


@pytest.fixture
def aws(emulator) -> Aws:
    return Aws(emulator)
