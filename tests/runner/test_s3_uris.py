"""The runner's S3 URI rule (batchops_core.s3uri) fails the step with a message naming the field."""

import pytest

from batchops_local.runner.aws import parse_s3_uri
from batchops_local.runner.errors import StepFailed


def test_splits_bucket_and_key():
    assert parse_s3_uri("s3://bucket/a/b/", what="x") == ("bucket", "a/b/")
    assert parse_s3_uri("s3://bucket", what="x") == ("bucket", "")


@pytest.mark.parametrize("uri, message", [
    ("https://bucket/a", "TransformOutput.S3OutputPath: expected an s3://bucket/key URI, found 'https://bucket/a'"),
    ("s3://", "TransformOutput.S3OutputPath: no bucket in 's3://'"),
    ("s3:///key", "TransformOutput.S3OutputPath: no bucket in 's3:///key'"),
    (None, "TransformOutput.S3OutputPath: expected an s3://bucket/key URI, found None"),
])
def test_a_bad_uri_fails_the_step_naming_the_field(uri, message):
    with pytest.raises(StepFailed) as failure:
        parse_s3_uri(uri, what="TransformOutput.S3OutputPath")
    assert str(failure.value) == message
