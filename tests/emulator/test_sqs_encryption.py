"""SQS encryption attributes: a queue with a KMS key is not also SQS-managed (as AWS reports it)."""

from __future__ import annotations

import boto3
from moto import mock_aws

KEY = "arn:aws:kms:us-east-1:123456789012:key/0d2f6a8e-0000-4000-8000-000000000001"


def _encryption(sqs, url: str) -> dict[str, str]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    names = ("SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")
    return {name: attributes[name] for name in names if name in attributes}


def test_a_queue_with_a_kms_key_reports_sqs_managed_encryption_off(aws):
    url = aws.sqs.create_queue(QueueName="with-key", Attributes={"KmsMasterKeyId": KEY})["QueueUrl"]
    assert _encryption(aws.sqs, url) == {
        "SqsManagedSseEnabled": "false",
        "KmsMasterKeyId": KEY,
        "KmsDataKeyReusePeriodSeconds": "300",
    }
    only_flag = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["SqsManagedSseEnabled"])["Attributes"]
    assert only_flag == {"SqsManagedSseEnabled": "false"}


def test_a_queue_without_a_key_keeps_the_sqs_managed_default_until_a_key_is_set(aws):
    url = aws.sqs.create_queue(QueueName="plain")["QueueUrl"]
    assert _encryption(aws.sqs, url) == {"SqsManagedSseEnabled": "true"}

    aws.sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": KEY})
    assert _encryption(aws.sqs, url)["SqsManagedSseEnabled"] == "false"


def test_plain_moto_is_untouched_once_the_emulator_has_stopped(emulator):
    emulator.stop()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        url = sqs.create_queue(QueueName="stock", Attributes={"KmsMasterKeyId": KEY})["QueueUrl"]
        assert _encryption(sqs, url)["SqsManagedSseEnabled"] == "true"  # moto's own answer
