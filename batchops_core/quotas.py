"""AWS's documented quotas that botocore's service models do not carry, in one table.

Each row names the AWS page that states it. The emulator enforces the request-size rows
(batchops_local/validation/quotas.py), the configuration check the tuning rows (batchops_core/settings.py), the
local runner sizes its S3 transfers by the S3 row (batchops_local/runner/aws.py); rows
marked `in_model` are also in botocore's service model and are enforced by the model check, kept here so that
every limit the stack depends on is readable in one place. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    key: str
    service: str
    what: str
    limit: int
    unit: str  # "bytes", "characters", "entries" or "jobs"
    source: str  # the AWS documentation page that states it
    in_model: bool = False
    # An adjustable quota: the account's default before an increase is granted; `limit` is then the most AWS
    # grants. None: the limit is fixed.
    default: int | None = None


KIB = 1024
MIB = 1024 * 1024

QUOTAS = (
    Quota("lambda.environment_bytes", "lambda",
          "aggregate size of a function's environment variables (the JSON of the Variables map)", 4 * KIB, "bytes",
          "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    # Raised from 256 KB to 1 MB on 2026-01-29 ("More room to build: serverless services now support payloads up
    # to 1 MB", AWS Compute Blog); the entry size is computed as the User Guide's page describes.
    Quota("events.put_events_entry_bytes", "events",
          "PutEvents entry size (Time 14 bytes + UTF-8 bytes of Source, DetailType, Detail and each Resource)",
          1 * MIB, "bytes",
          "https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb"
          " ; https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html"),
    # The default of the topic attribute MaximumMessageSize (settable from 1,024 to 1,048,576 bytes); an oversized
    # publish gets InvalidParameter.
    Quota("sns.message_bytes", "sns", "Publish message + attributes, for a topic without MaximumMessageSize",
          256 * KIB, "bytes", "https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html"),
    # Raised to 1 MiB in 2025 (also the upper bound of the queue attribute MaximumMessageSize); moto 5.2.5
    # already enforces it (moto/sqs/constants.py MAXIMUM_MESSAGE_LENGTH), so the emulator adds nothing.
    Quota("sqs.message_bytes", "sqs", "SendMessage body + attributes", 1 * MIB, "bytes",
          "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"),
    Quota("ssm.standard_parameter_value", "ssm", "value of a Standard-tier parameter (characters)", 4 * KIB,
          "characters",
          "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"),
    Quota("sagemaker.processing_environment_entries", "sagemaker", "CreateProcessingJob Environment entries", 100,
          "entries", "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html",
          in_model=True),
    Quota("sagemaker.customer_metadata_entries", "sagemaker",
          "CreateModelPackage CustomerMetadataProperties entries", 50, "entries",
          "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html", in_model=True),
    Quota("sagemaker.pipeline_definition_bytes", "sagemaker", "CreatePipeline/UpdatePipeline PipelineDefinition",
          1 * MIB, "characters", "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreatePipeline.html",
          in_model=True),
    # The local runner moves job inputs and outputs in one request up to this size (multipart above it).
    Quota("s3.put_object_bytes", "s3", "object uploaded in a single PutObject (larger: multipart upload)",
          5 * 1024 * MIB, "bytes", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html"),
)

# Automatic model tuning: "Default limits" and "Can be increased to" of the resource-limits table. Grid is left out:
# the configuration refuses that strategy.
_TUNING_LIMITS = "https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-limits.html"
QUOTAS += (
    Quota("sagemaker.tuning_parallel_training_jobs", "sagemaker",
          "parallel training jobs per hyperparameter tuning job (MaxParallelTrainingJobs)", 100, "jobs",
          _TUNING_LIMITS, default=10),
    Quota("sagemaker.tuning_training_jobs.Random", "sagemaker",
          "training jobs per Random-search tuning job (MaxNumberOfTrainingJobs)", 10_000, "jobs", _TUNING_LIMITS,
          default=750),
    Quota("sagemaker.tuning_training_jobs.Bayesian", "sagemaker",
          "training jobs per Bayesian-optimization tuning job (MaxNumberOfTrainingJobs)", 750, "jobs",
          _TUNING_LIMITS),
    Quota("sagemaker.tuning_training_jobs.Hyperband", "sagemaker",
          "training jobs per Hyperband tuning job (MaxNumberOfTrainingJobs)", 750, "jobs", _TUNING_LIMITS),
)

BY_KEY = {quota.key: quota for quota in QUOTAS}


def limit(key: str) -> int:
    return BY_KEY[key].limit


def default(key: str) -> int:
    """The account's default before any increase (the limit itself for a fixed quota)."""
    quota = BY_KEY[key]
    return quota.limit if quota.default is None else quota.default
