"""The policy evaluation the least-privilege tests rely on (iam_simulation), against IAM's documented rules."""

from __future__ import annotations

import pytest
from iam_simulation import allowed

BUCKET = "arn:aws:s3:::data"
POLICY = {"Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/*"},
    {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"{BUCKET}/locked/*"},
    {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "arn:aws:kms:*:*:key/*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
     "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
                   "StringLike": {"kms:EncryptionContext:SecretARN": "arn:*:secret:token-??????"}}},
]}
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"


def test_allow_matches_action_case_insensitively_and_resource_by_wildcard():
    assert allowed([POLICY], "S3:getobject", f"{BUCKET}/a/b.csv")
    assert not allowed([POLICY], "s3:GetObject", "arn:aws:s3:::other/a.csv")  # implicit deny
    assert not allowed([POLICY], "s3:DeleteObject", f"{BUCKET}/a.csv")


def test_an_explicit_deny_wins_over_an_allow():
    assert allowed([POLICY], "s3:PutObject", f"{BUCKET}/open/a.csv")
    assert not allowed([POLICY], "s3:PutObject", f"{BUCKET}/locked/a.csv")


@pytest.mark.parametrize(("context", "expected"), [
    ({}, False), ({"kms:GrantIsForAWSResource": "false"}, False), ({"kms:GrantIsForAWSResource": "true"}, True)])
def test_a_condition_key_the_request_lacks_fails_the_condition(context, expected):
    assert allowed([POLICY], "kms:CreateGrant", KEY, context) is expected


def test_every_condition_block_must_hold_and_like_takes_question_marks():
    via = {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    context = "kms:EncryptionContext:SecretARN"
    assert allowed([POLICY], "kms:Decrypt", KEY, {**via, context: "arn:aws:secret:token-AbCdEf"})
    assert not allowed([POLICY], "kms:Decrypt", KEY, {**via, context: "arn:aws:secret:token-AbC"})
    assert not allowed([POLICY], "kms:Decrypt", KEY, {context: "arn:aws:secret:token-AbCdEf"})
