"""Fixtures shared by the CLI and report tests."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from batchops.aws_session import AwsTarget
from batchops_core.settings import load_settings


@pytest.fixture
def target(monkeypatch):
    """The local environment's AWS target on moto's in-process mock, with its bucket; no endpoint, no profile."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = load_settings("local")
    with mock_aws():
        aws = AwsTarget(settings, boto3.Session(region_name="us-east-1"))
        aws.client("s3").create_bucket(Bucket=settings.bucket)
        yield aws
