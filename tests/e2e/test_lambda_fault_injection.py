"""Chaos: the topic the notification Lambda publishes to disappears while events keep coming.

The real notification zip runs behind its EventBridge rule with the asynchronous-invocation settings Terraform
gives it (read from `terraform/modules/lambdas` and `terraform/modules/events`, not restated here). On AWS,
EventBridge hands the event to Lambda once (its target retry policy and dead-letter queue cover only failures to
reach Lambda), Lambda retries a failing function MaximumRetryAttempts times, and then sends one invocation record
(`requestContext`, `requestPayload`, `responseContext`, `responsePayload`) to the on-failure destination
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html,
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html). Once the topic is back, redriving the
recorded payload sends the mail exactly once: nothing is lost and the failed attempts left no claim behind."""

from __future__ import annotations

import json
from pathlib import Path

import hcl2
import pytest

from batchops.lambda_package import build_lambda_zips
from batchops.terraform import TERRAFORM_DIR
from batchops_local.emulator import read_invocation_log, read_outbox
from batchops_local.runtime import start_local_aws

PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/chaos-training"
STEP_EVENTS = {"source": ["aws.sagemaker"],
               "detail-type": ["SageMaker Model Building Pipeline Execution Step Status Change"]}
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _resource(module: str, kind: str, name: str) -> dict:
    with (TERRAFORM_DIR / "modules" / module / "main.tf").open(encoding="utf-8") as handle:
        document = hcl2.load(handle)
    for block in document["resource"]:
        for found_kind, resources in block.items():
            for found_name, body in resources.items():
                if (found_kind.strip('"'), found_name.strip('"')) == (kind, name):
                    return body
    raise AssertionError(f"terraform/modules/{module}/main.tf declares no {kind}.{name}")


def _events_retry_policy() -> dict:
    with (TERRAFORM_DIR / "modules" / "events" / "main.tf").open(encoding="utf-8") as handle:
        document = hcl2.load(handle)
    [retry] = [block["retry"] for block in document["locals"] if "retry" in block]
    return {"MaximumRetryAttempts": retry["maximum_retry_attempts"],
            "MaximumEventAgeInSeconds": retry["maximum_event_age_in_seconds"]}


@pytest.fixture
def local_aws(tmp_path):
    runtime = start_local_aws(tmp_path / "home", execution_handler=None, lambda_retry_delay_seconds=0.05,
                              load_aws_managed_policies=False)
    try:
        yield runtime
    finally:
        runtime.stop()


def _queue(local_aws, name: str) -> tuple[str, str]:
    sqs = local_aws.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _drain(local_aws, url: str) -> list[dict]:
    sqs, bodies = local_aws.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _topic(local_aws) -> str:
    sns = local_aws.client("sns")
    arn = sns.create_topic(Name="chaos-notifications")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ml-team@example.com")
    return arn


def _deploy(local_aws, tmp_path: Path) -> dict[str, str]:
    """The notification function as Terraform deploys it: event invoke config with an SQS on-failure
    destination; its rule's target with the events module's retry policy and dead-letter queue."""
    invoke_config = _resource("lambdas", "aws_lambda_function_event_invoke_config", "function")
    topic = _topic(local_aws)
    local_aws.client("dynamodb").create_table(
        TableName="chaos-event-dedup", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}])
    role = local_aws.client("iam").create_role(RoleName="chaos-lambda",
                                               AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
    on_failure_url, on_failure_arn = _queue(local_aws, "chaos-notification-dlq")
    events_dlq_url, events_dlq_arn = _queue(local_aws, "chaos-events-dlq")
    lambda_client = local_aws.client("lambda")
    function_arn = lambda_client.create_function(
        FunctionName="chaos-notification", Runtime="python3.12", Role=role, Handler="handler.handler", Timeout=60,
        Code={"ZipFile": build_lambda_zips(tmp_path / "zips")["notification"].read_bytes()},
        Environment={"Variables": {"PROJECT": "abalone", "ENVIRONMENT": "chaos", "SNS_TOPIC_ARN": topic,
                                   "DEDUP_TABLE": "chaos-event-dedup", "NOTIFICATION_RULES": "[]"}},
    )["FunctionArn"]
    lambda_client.put_function_event_invoke_config(
        FunctionName="chaos-notification",
        MaximumRetryAttempts=invoke_config["maximum_retry_attempts"],
        MaximumEventAgeInSeconds=invoke_config["maximum_event_age_in_seconds"],
        DestinationConfig={"OnFailure": {"Destination": on_failure_arn}})
    events = local_aws.client("events")
    events.put_rule(Name="chaos-notification", EventPattern=json.dumps(STEP_EVENTS))
    events.put_targets(Rule="chaos-notification", Targets=[{
        "Id": "notification", "Arn": function_arn, "RetryPolicy": _events_retry_policy(),
        "DeadLetterConfig": {"Arn": events_dlq_arn}}])
    seen_url, seen_arn = _queue(local_aws, "chaos-seen")
    events.put_rule(Name="chaos-seen", EventPattern=json.dumps(STEP_EVENTS))
    events.put_targets(Rule="chaos-seen", Targets=[{"Id": "seen", "Arn": seen_arn}])
    return {"topic": topic, "function": function_arn, "on_failure": on_failure_url, "events_dlq": events_dlq_url,
            "seen": seen_url, "retries": invoke_config["maximum_retry_attempts"]}


def test_a_failing_notification_is_retried_as_configured_then_parked_once_and_redriven(local_aws, tmp_path):
    deployed = _deploy(local_aws, tmp_path)  # retries beyond Lambda's 0-2 would be rejected here, as by AWS
    local_aws.client("sns").delete_topic(TopicArn=deployed["topic"])  # the chaos: the outbound topic is gone

    detail = {"pipelineArn": PIPELINE_ARN, "pipelineExecutionArn": f"{PIPELINE_ARN}/execution/chaos1",
              "stepName": "Train", "stepType": "Training", "currentStepStatus": "Failed",
              "previousStepStatus": "Executing", "failureReason": "AlgorithmError: out of memory"}
    local_aws.client("events").put_events(Entries=[{
        "Source": "aws.sagemaker", "Detail": json.dumps(detail), "Resources": [PIPELINE_ARN],
        "DetailType": "SageMaker Model Building Pipeline Execution Step Status Change"}])
    assert local_aws.wait_for_lambdas(120)
    [event] = _drain(local_aws, deployed["seen"])

    # Lambda's count: the first attempt plus MaximumRetryAttempts retries, each one failing at the publish (the
    # handler got as far as SNS every time: a failed attempt leaves no claim that would make a retry skip).
    attempts = [i for i in read_invocation_log(local_aws.home) if i["event_id"] == event["id"]]
    assert [i["attempt"] for i in attempts] == list(range(1, deployed["retries"] + 2))
    assert all(i["rc"] == 1 and "NotFound" in i["stderr_tail"] and "Publish" in i["stderr_tail"] for i in attempts), \
        [(i["rc"], i["stderr_tail"][-300:]) for i in attempts]

    # One record at the on-failure destination, in Lambda's shape, with the original event and the error.
    [record] = _drain(local_aws, deployed["on_failure"])
    assert record["requestPayload"] == event
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == deployed["retries"] + 1
    assert record["requestContext"]["functionArn"] == f"{deployed['function']}:$LATEST"
    assert record["requestContext"]["requestId"] == attempts[-1]["request_id"]
    assert record["responseContext"]["functionError"] == "Unhandled"
    error = record["responsePayload"]  # the Python runtime's error object of the last attempt
    assert (error["errorType"], error["requestId"]) == ("NotFoundException", attempts[-1]["request_id"])
    assert "Publish" in error["errorMessage"]
    frames = [frame.splitlines()[0] for frame in error["stackTrace"]]  # the handler's frames, none of the runtime's
    assert frames and not any('File "<string>"' in frame for frame in frames), frames
    assert any('/handler.py", line' in frame for frame in frames) and "in publish" in " ".join(frames), frames
    # EventBridge did reach Lambda: its own retry policy and dead-letter queue were not involved; no mail went out.
    assert _drain(local_aws, deployed["events_dlq"]) == []
    assert read_outbox(local_aws.home) == []

    # The topic is back (same name, same ARN); an operator redrives the parked payload: one mail, nothing lost.
    assert _topic(local_aws) == deployed["topic"]
    local_aws.client("lambda").invoke(FunctionName=deployed["function"], InvocationType="Event",
                                      Payload=json.dumps(record["requestPayload"]).encode())
    assert local_aws.wait_for_lambdas(120)
    redriven = [i for i in read_invocation_log(local_aws.home) if i["event_id"] is None]
    assert [i["rc"] for i in redriven] == [0], [i["stderr_tail"][-300:] for i in redriven]
    [mail] = read_outbox(local_aws.home)
    assert mail["subject"] == "[chaos] chaos-training: step Train failed"
    assert _drain(local_aws, deployed["on_failure"]) == []
