"""The SageMaker SDK session used to build definitions without any network call.

The SDK reads some settings at import time (a module-level SageMaker client needs a region; role validation
is switched by environment), so `prepare_sdk_environment` must run before the first `import sagemaker...`.
Every builder imports the SDK lazily, inside functions, after calling it.
"""

from __future__ import annotations

import os
from typing import Any

TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def prepare_sdk_environment(region: str, *, offline: bool = True) -> None:
    """Environment the SDK needs before import: a region, no role validation (it calls IAM), and offline no IMDS.

    Values already set by the user win (setdefault), except role validation, which building never needs.
    `offline=False` keeps the instance-metadata credential source usable (an upsert from a CI runner).
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    if offline:
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def offline_session(bucket: str, region: str) -> Any:
    """A PipelineSession that never talks to AWS while steps are built (dummy credentials, fixed bucket)."""
    prepare_sdk_environment(region)
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    class OfflinePipelineSession(PipelineSession):
        """`default_bucket()` of the base class lists/creates buckets; building only needs the name."""

        def default_bucket(self) -> str:
            return bucket

    boto_session = boto3.Session(aws_access_key_id="offline", aws_secret_access_key="offline", region_name=region)
    return OfflinePipelineSession(boto_session=boto_session, default_bucket=bucket, sagemaker_config=TELEMETRY_OFF)
