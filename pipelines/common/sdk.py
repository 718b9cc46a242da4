"""The SageMaker SDK session used to build definitions without any network call.

The SDK reads some settings at import time (a module-level SageMaker client needs a region and, without
credentials in the environment, would ask the instance-metadata service), and validates roles through IAM unless
told not to. `sdk_environment` sets what the SDK needs around a build and puts the environment back afterwards,
so later credential lookups (an upsert from a CI runner with an instance role) are untouched. Every builder
imports the SDK lazily, inside functions, so the first import happens inside that context.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


@contextlib.contextmanager
def sdk_environment(region: str) -> Iterator[None]:
    """A region (unless one is set), no role validation (it calls IAM), no instance-metadata lookups."""
    wanted = {"AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or region,
              "SAGEMAKER_VALIDATE_ROLE": "false", "AWS_EC2_METADATA_DISABLED": "true"}
    previous = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare_sdk_environment(region: str, *, offline: bool = True) -> None:
    """For callers that import the SDK early (a warm-up): the import-time settings, left in place.

    `offline=False` keeps the instance-metadata credential source usable. Builds use `sdk_environment` instead.
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    if offline:
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def offline_session(bucket: str, region: str) -> Any:
    """A PipelineSession that never talks to AWS while steps are built (dummy credentials, fixed bucket)."""
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    class OfflinePipelineSession(PipelineSession):
        """`default_bucket()` of the base class lists/creates buckets; building only needs the name."""

        def default_bucket(self) -> str:
            return bucket

    boto_session = boto3.Session(aws_access_key_id="offline", aws_secret_access_key="offline", region_name=region)
    return OfflinePipelineSession(boto_session=boto_session, default_bucket=bucket, sagemaker_config=TELEMETRY_OFF)
