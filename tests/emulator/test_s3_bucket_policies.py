"""IAM condition evaluation for bucket policies (requests reach the emulator as if over HTTPS)."""

import pytest

from batchops_local.emulator.policies import conditions_hold

CONTEXT = {"aws:securetransport": "true"}


@pytest.mark.parametrize(
    ("conditions", "holds"),
    [
        ({"Bool": {"aws:SecureTransport": "false"}}, False),
        ({"Bool": {"aws:SecureTransport": ["true"]}}, True),
        ({"StringEquals": {"aws:SecureTransport": "true"}}, True),
        ({"StringNotEquals": {"aws:SecureTransport": "true"}}, False),
        ({"StringLike": {"aws:SecureTransport": "t*"}}, True),
        ({"StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}, False),  # absent key
        ({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}, True),  # absent key, negated
        ({"StringEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}, True),
        ({"Null": {"s3:x-amz-server-side-encryption": "true"}}, True),
        ({"Null": {"aws:SecureTransport": "true"}}, False),
        ({"NumericLessThan": {"s3:TlsVersion": "1.2"}}, False),  # not evaluated: treated as absent
        ({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpce": "vpce-1"}}, False),
        ({}, True),
    ],
)
def test_conditions(conditions, holds):
    assert conditions_hold(conditions, CONTEXT) is holds
