"""Names AWS derives from the account and region: the bucket name suffix (issue 16 item 14) and the ARN partition
(item 15)."""

from __future__ import annotations

import pytest

from batchops_core import contracts
from batchops_core.settings import load_settings


def _with_storage(**storage):
    settings = load_settings("local")
    return settings.model_copy(update={"storage": settings.storage.model_copy(update=storage)})


@pytest.mark.parametrize(("suffix", "expected"), [
    ("", "abalone-local-data"),
    ("account_id", "abalone-local-data-210987654321"),
    ("region_account", "abalone-local-data-us-east-1-210987654321"),
])
def test_the_bucket_name_suffix_makes_the_name_unique_per_account(suffix, expected):
    assert _with_storage(bucket_name_suffix=suffix).for_account("210987654321").bucket == expected


def test_a_suffixed_bucket_name_is_not_guessed_without_the_account():
    settings = _with_storage(bucket_name_suffix="account_id")
    with pytest.raises(ValueError, match="needs the account id; use settings.for_account"):
        _ = settings.bucket
    with pytest.raises(ValueError, match="12-digit"):
        settings.for_account("12345")


def test_an_explicit_bucket_name_stays_exact_without_a_suffix():
    assert _with_storage(bucket_name="team-shared-bucket").for_account("210987654321").bucket == "team-shared-bucket"


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("eu-central-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn"),
    ("cn-northwest-1", "aws-cn"),
])
def test_the_partition_follows_the_region(region, partition):
    assert contracts.partition_of(region) == partition
    assert load_settings("local").model_copy(update={"region": region}).partition == partition
