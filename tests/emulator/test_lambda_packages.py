"""Functions created (and updated) from a deployment package in S3 get that object's code, as Lambda reads it: a
missing bucket, key or version and a bucket in another Region are refused with Lambda's error code and wording,
and an object of a KMS-encrypted bucket is read (CodeSha256 is the zip's). Across accounts: tests/emulator/
test_accounts.py."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import REGION, make_zip

BUCKET = "function-packages"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _source(answer: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {answer!r}\n"})


def _code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _error(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


@pytest.fixture
def deploy(emulator) -> Any:
    """A KMS-encrypted bucket (default SSE-KMS, as the stack's) and a function role; returns (lambda, s3, role)."""
    kms_key = emulator.client("kms").create_key()["KeyMetadata"]["Arn"]
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}}]})
    role = emulator.client("iam").create_role(RoleName="packages-test", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return emulator.client("lambda"), s3, role


def _create(awslambda: Any, role: str, **code: str) -> dict[str, Any]:
    return awslambda.create_function(FunctionName="from-s3", Runtime="python3.12", Role=role, Handler="app.handler",
                                     Code=code, Timeout=30)


def test_a_function_from_an_encrypted_object_runs_that_code_and_reports_its_sha256(deploy):
    awslambda, s3, role = deploy
    package = _source("first")
    put = s3.put_object(Bucket=BUCKET, Key="code/first.zip", Body=package)
    assert put["ServerSideEncryption"] == "aws:kms"
    created = _create(awslambda, role, S3Bucket=BUCKET, S3Key="code/first.zip")
    assert (created["CodeSha256"], created["CodeSize"]) == (_code_sha256(package), len(package))
    assert json.loads(awslambda.invoke(FunctionName="from-s3")["Payload"].read()) == "first"

    update = _source("second")
    s3.put_object(Bucket=BUCKET, Key="code/second.zip", Body=update)
    updated = awslambda.update_function_code(FunctionName="from-s3", S3Bucket=BUCKET, S3Key="code/second.zip")
    assert updated["CodeSha256"] == _code_sha256(update)
    assert awslambda.get_function(FunctionName="from-s3")["Configuration"]["CodeSha256"] == _code_sha256(update)


def test_an_object_version_is_read_as_named(deploy):
    awslambda, s3, role = deploy
    old = s3.put_object(Bucket=BUCKET, Key="code/app.zip", Body=_source("old"))["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="code/app.zip", Body=_source("new"))
    created = _create(awslambda, role, S3Bucket=BUCKET, S3Key="code/app.zip", S3ObjectVersion=old)
    assert created["CodeSha256"] == _code_sha256(_source("old"))
    assert _error(lambda: awslambda.update_function_code(
        FunctionName="from-s3", S3Bucket=BUCKET, S3Key="code/app.zip", S3ObjectVersion="no-such-version")) == (
        400, "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchVersion. S3 Error Message: The specified version "
        "does not exist.")


def test_a_missing_bucket_or_key_is_refused_as_lambda_refuses_it(deploy):
    awslambda, _s3, role = deploy
    assert _error(lambda: _create(awslambda, role, S3Bucket="no-such-bucket", S3Key="code/app.zip")) == (
        400, "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does "
        "not exist")
    assert _error(lambda: _create(awslambda, role, S3Bucket=BUCKET, S3Key="code/missing.zip")) == (
        400, "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not "
        "exist.")
    assert awslambda.list_functions()["Functions"] == []  # nothing half-created


def test_an_update_naming_a_missing_key_keeps_the_function_code(deploy):
    awslambda, s3, role = deploy
    s3.put_object(Bucket=BUCKET, Key="code/app.zip", Body=_source("kept"))
    _create(awslambda, role, S3Bucket=BUCKET, S3Key="code/app.zip")
    code, _type, message = _error(lambda: awslambda.update_function_code(
        FunctionName="from-s3", S3Bucket=BUCKET, S3Key="code/gone.zip"))
    assert code == 400 and "S3 Error Code: NoSuchKey" in message
    assert json.loads(awslambda.invoke(FunctionName="from-s3")["Payload"].read()) == "kept"


def test_a_bucket_in_another_region_is_refused_with_a_permanent_redirect(emulator, deploy):
    awslambda, _s3, role = deploy
    elsewhere = emulator.client("s3", region="eu-west-1")
    elsewhere.create_bucket(Bucket="packages-in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    elsewhere.put_object(Bucket="packages-in-ireland", Key="code/app.zip", Body=_source("far"))
    assert REGION != "eu-west-1"
    assert _error(lambda: _create(awslambda, role, S3Bucket="packages-in-ireland", S3Key="code/app.zip")) == (
        400, "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: PermanentRedirect. S3 Error Message: The bucket is in this "
        "region: eu-west-1. Please use this region to retry the request")
