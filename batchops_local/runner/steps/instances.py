"""A job's instances as SageMaker names and feeds them: `algo-1` ... `algo-N`, and which S3 objects each one gets.

- Names: `/opt/ml/config/resourceconfig.json` holds `current_host` and `hosts` (`algo-1`, `algo-2`, ...)
  (https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html, "How Amazon SageMaker
  Processing Configures Your Processing Container").
- Distribution (S3DataSource / ProcessingS3Input `S3DataDistributionType`): `FullyReplicated` gives every instance
  every object; `ShardedByS3Key` gives each of n instances about 1/n of the objects, and an instance may get none
  when there are fewer objects than instances
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html). Which object goes to which
  instance is not documented; locally: round-robin over the keys in S3 listing (lexicographic) order.
- Batch transform partitions the input's S3 objects by key and maps them to its instances (an object is never
  split across instances; https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html, "Use batch
  transform to get inferences from large datasets"): the same round-robin here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from batchops_local.runner.errors import StepFailed

FULLY_REPLICATED = "FullyReplicated"
SHARDED_BY_S3_KEY = "ShardedByS3Key"
# The API's enum (botocore service model: ProcessingS3DataDistributionType, S3DataDistribution).
DISTRIBUTION_TYPES = (FULLY_REPLICATED, SHARDED_BY_S3_KEY)

Item = TypeVar("Item")


def host_names(instance_count: Any, *, what: str) -> list[str]:
    """`algo-1` ... `algo-<InstanceCount>` (the request was checked against the service model; a definition
    value is checked again here because the runner resolves it from parameters)."""
    try:
        count = int(instance_count if instance_count is not None else 1)
    except (TypeError, ValueError):
        raise StepFailed(f"{what}: InstanceCount must be a whole number, found {instance_count!r}") from None
    if count < 1:
        raise StepFailed(f"{what}: InstanceCount must be at least 1, found {count}")
    return [f"algo-{number}" for number in range(1, count + 1)]


def resource_config(host: str, hosts: Sequence[str]) -> dict[str, Any]:
    """The processing container's /opt/ml/config/resourceconfig.json for one instance."""
    return {"current_host": host, "hosts": list(hosts)}


def distribution_type(source: dict[str, Any], *, what: str) -> str:
    value = source.get("S3DataDistributionType") or FULLY_REPLICATED
    if value not in DISTRIBUTION_TYPES:
        raise StepFailed(f"{what}: S3DataDistributionType must be one of {', '.join(DISTRIBUTION_TYPES)}, "
                         f"found '{value}'")
    return value


def objects_of_host(objects: Sequence[Item], distribution: str, host_index: int, host_count: int) -> list[Item]:
    """The objects (in listing order) instance number `host_index` (0-based) of `host_count` receives."""
    if distribution == SHARDED_BY_S3_KEY:
        return list(objects[host_index::host_count])
    return list(objects)
