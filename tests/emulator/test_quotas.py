"""The documented quotas that botocore's models do not carry (batchops_core/quotas.py), enforced by the emulator."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

from batchops_core.quotas import QUOTAS, limit
from batchops_local.validation.quotas import put_events_entry_size

ROLE = "arn:aws:iam::123456789012:role/emulator-test"


def test_every_quota_names_the_aws_page_that_states_it():
    assert {quota.key for quota in QUOTAS} >= {
        "lambda.environment_bytes", "events.put_events_entry_bytes", "sns.message_bytes", "sqs.message_bytes",
        "ssm.standard_parameter_value", "sagemaker.processing_environment_entries",
        "sagemaker.customer_metadata_entries", "sagemaker.pipeline_definition_bytes"}
    for quota in QUOTAS:
        assert quota.source.startswith("https://") and quota.limit > 0, quota


def test_an_oversized_put_events_entry_is_refused_in_the_response_and_the_others_are_delivered(emulator):
    events = emulator.client("events")
    sqs = emulator.client("sqs")
    queue = sqs.create_queue(QueueName="delivered")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventPattern=json.dumps({"source": ["quota.test"]}))
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": queue_arn}])
    big = {"Source": "quota.test", "DetailType": "big", "Detail": json.dumps({"x": "y" * limit(
        "events.put_events_entry_bytes")})}
    small = {"Source": "quota.test", "DetailType": "small", "Detail": "{}"}
    assert put_events_entry_size(big) > limit("events.put_events_entry_bytes")

    response = events.put_events(Entries=[big, small])

    assert response["FailedEntryCount"] == 1
    refused, accepted = response["Entries"]
    assert refused["ErrorCode"] == "InvalidArgument" and "exceeds the limit" in refused["ErrorMessage"]
    assert "EventId" not in refused and accepted.get("EventId")
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert [json.loads(m["Body"])["detail-type"] for m in received] == ["small"]


def test_a_5_kb_lambda_environment_is_refused_with_lambdas_error(emulator):
    emulator.client("iam").create_role(RoleName="emulator-test", AssumeRolePolicyDocument="{}")
    with pytest.raises(ClientError) as excinfo:
        emulator.client("lambda").create_function(
            FunctionName="too-big", Role=ROLE, Runtime="python3.12", Handler="h.handler", Code={"ZipFile": _zip()},
            Environment={"Variables": {"BIG": "x" * 5 * 1024}})
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith("Lambda was unable to configure your environment variables because the "
                                       "environment variables you have provided exceeded the 4KB limit.")
    assert emulator.client("lambda").list_functions()["Functions"] == []


def test_an_oversized_sns_message_is_refused(emulator):
    sns = emulator.client("sns")
    topic = sns.create_topic(Name="quota")["TopicArn"]
    with pytest.raises(ClientError) as excinfo:
        sns.publish(TopicArn=topic, Message="x" * (limit("sns.message_bytes") + 1))
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameter"
    sns.publish(TopicArn=topic, Message="x" * limit("sns.message_bytes"))


def test_a_standard_ssm_parameter_over_4096_characters_is_refused(emulator):
    ssm = emulator.client("ssm")
    with pytest.raises(ClientError) as excinfo:
        ssm.put_parameter(Name="/quota/p", Value="x" * 4097, Type="String")
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert "Standard tier parameters support a maximum parameter value of 4096 characters" in str(excinfo.value)
    ssm.put_parameter(Name="/quota/p", Value="x" * 4097, Type="String", Tier="Advanced")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("h.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()
