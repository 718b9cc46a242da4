"""The runner moves job inputs and outputs in one S3 request per object (up to the single-PutObject size)."""

from __future__ import annotations

import os

from batchops_core import quotas
from batchops_local.runner.aws import ONE_REQUEST, AwsClients

ACCOUNT = "123456789012"


def test_an_object_above_boto3_s_multipart_threshold_moves_in_one_request(aws, tmp_path):
    clients = AwsClients(aws.endpoint, "us-east-1", ACCOUNT)
    body = os.urandom(9 * 1024 * 1024)  # above boto3's default 8 MB multipart threshold
    source = tmp_path / "output.csv"
    source.write_bytes(body)
    clients.put_file(source, aws.bucket, "runner/one.csv")
    aws.s3.upload_file(str(source), aws.bucket, "runner/default.csv")  # boto3's default, for contrast
    # A multipart object's ETag ends in -<parts>; one PutObject's is the MD5 of the body.
    assert "-" not in aws.s3.head_object(Bucket=aws.bucket, Key="runner/one.csv")["ETag"]
    assert aws.s3.head_object(Bucket=aws.bucket, Key="runner/default.csv")["ETag"].strip('"').endswith("-2")
    clients.get_file(aws.bucket, "runner/one.csv", tmp_path / "back.csv")
    assert (tmp_path / "back.csv").read_bytes() == body


def test_the_single_request_limit_is_s3_s_documented_put_object_size():
    assert ONE_REQUEST.multipart_threshold == quotas.limit("s3.put_object_bytes") == 5 * 1024 ** 3
