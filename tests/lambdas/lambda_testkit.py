"""Shared pieces of the Lambda tests: a mocked AWS account with the stack's resources, event builders,
and a local HTTP server standing in for Slack / GitLab."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.sns.models import sns_backends

from lambdas.shared import runtime

ACCOUNT = "123456789012"
REGION = "us-east-1"
PROJECT = "abalone"
ENVIRONMENT = "test"
INFERENCE = "abalone-test-inference"
TRAINING = "abalone-test-training"
GROUP = "abalone-test-models"
POINTER = "/abalone/test/active-model-package-arn"
DEDUP_TABLE = "abalone-test-event-dedup"


def pipeline_arn(pipeline: str = INFERENCE) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{pipeline}"


def execution_arn(pipeline: str = INFERENCE, execution_id: str = "exec0001") -> str:
    return f"{pipeline_arn(pipeline)}/execution/{execution_id}"


def envelope(detail_type: str, detail: dict[str, Any], resources: list[str], event_id: str | None = None) -> dict:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-11-21T06:00:00Z",
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def step_event(step: str, status: str, pipeline: str = INFERENCE, **detail: Any) -> dict:
    body = {
        "pipelineArn": pipeline_arn(pipeline),
        "pipelineExecutionArn": execution_arn(pipeline),
        "stepName": step,
        "stepType": detail.pop("stepType", "Processing"),
        "currentStepStatus": status,
        "previousStepStatus": "Executing",
        "stepStartTime": "2026-11-21T06:00:00Z",
        "stepEndTime": "2026-11-21T06:02:05Z",
        "metadata": {},
        **detail,
    }
    event_id = body.pop("event_id", None)
    return envelope(
        "SageMaker Model Building Pipeline Execution Step Status Change",
        body,
        [pipeline_arn(pipeline), execution_arn(pipeline)],
        event_id,
    )


def execution_event(status: str, pipeline: str = INFERENCE, **detail: Any) -> dict:
    body = {
        "pipelineArn": pipeline_arn(pipeline),
        "pipelineExecutionArn": execution_arn(pipeline),
        "currentPipelineExecutionStatus": status,
        "previousPipelineExecutionStatus": "Executing",
        "executionStartTime": "2026-11-21T06:00:00Z",
        "executionEndTime": "2026-11-21T07:03:09Z",
        **detail,
    }
    event_id = body.pop("event_id", None)
    return envelope(
        "SageMaker Model Building Pipeline Execution Status Change",
        body,
        [pipeline_arn(pipeline), execution_arn(pipeline)],
        event_id,
    )


def package_event(arn: str, status: str, group: str = GROUP, event_id: str | None = None) -> dict:
    detail = {
        "ModelPackageGroupName": group,
        "ModelPackageVersion": int(arn.rsplit("/", 1)[1]),
        "ModelPackageArn": arn,
        "ModelApprovalStatus": status,
        "ModelPackageStatus": "Completed",
    }
    return envelope("SageMaker Model Package State Change", detail, [arn], event_id)


@dataclass
class Stack:
    topic_arn: str

    def published(self) -> list[dict[str, str]]:
        """What SNS sent, oldest first, as {subject, message}."""
        topic = sns_backends[ACCOUNT][REGION].topics[self.topic_arn]
        return [{"subject": sent[2], "message": sent[1]} for sent in topic.sent_notifications]

    def dedup_item(self, event_id: str) -> dict[str, Any] | None:
        item = runtime.client("dynamodb").get_item(TableName=DEDUP_TABLE, Key={"event_id": {"S": event_id}})
        return item.get("Item")


@pytest.fixture
def aws(monkeypatch):
    """A fresh mocked account; the handlers' cached clients are dropped before and after."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # Importing the emulator turns moto's managed-policy loading on for the whole process; these tests use
    # no IAM, and loading ~1,000 policies at every reset of an IAM backend costs seconds per test.
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    runtime.reset_clients()
    with mock_aws():
        yield
    runtime.reset_clients()


@pytest.fixture
def stack(aws, monkeypatch) -> Stack:
    """SNS topic, dedup table (TTL on expires_at) and the environment both Lambdas share."""
    topic_arn = runtime.client("sns").create_topic(Name="abalone-test-notifications")["TopicArn"]
    dynamodb = runtime.client("dynamodb")
    dynamodb.create_table(
        TableName=DEDUP_TABLE,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=DEDUP_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    for name, value in {
        "PROJECT": PROJECT,
        "ENVIRONMENT": ENVIRONMENT,
        "SNS_TOPIC_ARN": topic_arn,
        "DEDUP_TABLE": DEDUP_TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    return Stack(topic_arn=topic_arn)


@pytest.fixture
def stub_sagemaker(aws, monkeypatch):
    """A SageMaker client whose answers the test scripts (moto lacks ListPipelineExecutionSteps)."""
    client = runtime.client("sagemaker")
    stubber = Stubber(client)
    with stubber:
        yield stubber


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    answers: list[tuple[int, Any, float]] = field(default_factory=list)  # (status, body, delay seconds)

    def answer(self, status: int, body: str | Callable[[Recorded], str] = "", delay: float = 0.0) -> None:
        """Queue the next answer (a body, or a function of the request); without one queued the server answers
        200 with an empty JSON object."""
        self.answers.append((status, body, delay))


def echo(request: Recorded) -> str:
    """What a server that echoes the request answers: the request line, its headers and its body, verbatim."""
    headers = "".join(f"{name}: {value}\n" for name, value in request.headers.items())
    return f"POST {request.path} HTTP/1.1\n{headers}\n{request.body.decode()}"


def json_echo(request: Recorded) -> str:
    """An echo as a JSON error document (strings JSON-escaped)."""
    return json.dumps({"message": "bad request", "body": request.body.decode(), "path": request.path,
                       "headers": request.headers})


@pytest.fixture
def local_server():
    """An HTTP server on 127.0.0.1 that records requests (stands in for a webhook or GitLab); stopped after."""
    server_state = LocalServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", "0"))
            request = Recorded(self.path, dict(self.headers), self.rfile.read(length))
            server_state.requests.append(request)
            status, body, delay = server_state.answers.pop(0) if server_state.answers else (200, "{}", 0.0)
            time.sleep(delay)
            payload = (body(request) if callable(body) else body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server_state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def log_records(captured: str) -> list[dict[str, Any]]:
    """Parse the handlers' stdout: every line must be one JSON object."""
    return [json.loads(line) for line in captured.splitlines() if line.strip()]
