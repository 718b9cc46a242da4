"""What a dataset is, by its keys (batchops_core/datasets.py), and that the EventBridge rules Terraform renders
from it start a run for a single `.csv` object or a folder's trigger file only, in the emulator's matcher (moto's
EventPattern, which implements AWS's wildcard: `*` matches any characters, '/' included)."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

from batchops_core import datasets
from batchops_core.settings import ConfigError, load_settings, parse_tfvars, settings_from_data


def test_a_trigger_key_names_its_folder_and_any_other_key_itself():
    assert datasets.trigger_folder("data/inference/d/batch/_SUCCESS", "_SUCCESS") == "data/inference/d/batch/"
    assert datasets.dataset_key("data/inference/d/batch/_SUCCESS", "_SUCCESS") == "data/inference/d/batch"
    assert datasets.dataset_key("data/inference/d/batch.csv", "_SUCCESS") == "data/inference/d/batch.csv"
    assert datasets.trigger_folder("data/inference/d/x_SUCCESS", "_SUCCESS") is None  # a whole name only
    assert datasets.trigger_folder("_SUCCESS", "_SUCCESS") is None


def test_results_mirror_the_batch_key_and_a_folder_gets_one_named_file():
    mirror = dict(inference_prefix="data/inference", results_prefix="data/predictions")
    assert datasets.results_key("data/inference/2026-12-03/batch.csv", folder=False, **mirror) == \
        "data/predictions/2026-12-03/batch.csv"
    assert datasets.results_key("data/inference/2026-12-03/batch", folder=True, **mirror) == \
        "data/predictions/2026-12-03/batch/predictions.csv"
    assert datasets.results_key("elsewhere/batch.csv", folder=False, **mirror) is None


def test_only_gzip_parts_can_be_parts():
    assert datasets.part_problem("part-00000.csv.gz") is None
    assert "starts a run of its own" in datasets.part_problem("part-00000.csv")
    assert "not a .csv.gz part file" in datasets.part_problem("notes.txt")


def test_results_columns_are_record_key_prediction_and_version():
    assert datasets.results_columns("record_id") == ["record_id", "prediction", "model_package_version"]


@pytest.mark.parametrize("name", ["a/b", "*", "batch.csv", "part.csv.gz", ""])
def test_a_trigger_file_must_be_one_safe_name_not_named_like_data(tmp_path, name):
    data = parse_tfvars(load_settings("local").source_file)
    with pytest.raises(ConfigError, match="trigger_file"):
        settings_from_data({**data, "folder_datasets": {"trigger_file": name}}, tmp_path / "x.tfvars")


def dataset_pattern(prefix: str, trigger: str) -> EventPattern:
    """The key filter of terraform/modules/events `dataset_patterns`, as Terraform renders it."""
    return EventPattern.load(json.dumps({"detail": {"object": {"key": [
        {"wildcard": f"{prefix}/*{datasets.SINGLE_OBJECT_SUFFIX}"}, {"wildcard": f"{prefix}/*/{trigger}"}]}}}))


@pytest.mark.parametrize(("key", "starts"), [
    ("data/inference/batch.csv", True),
    ("data/inference/2026-12-03/batch.csv", True),  # '*' matches '/' too: a single object at any depth
    ("data/inference/2026-12-03/batch/_SUCCESS", True),
    ("data/inference/2026-12-03/batch/part-00000.csv.gz", False),
    ("data/inference/2026-12-03/batch/_committed_123", False),
    ("data/inference/_SUCCESS", False),  # a trigger needs a folder
    ("data/training/batch.csv", False),
    ("data/inference-other/batch.csv", False),
])
def test_the_rule_pattern_starts_single_objects_and_triggers_only(key, starts):
    event = {"detail": {"object": {"key": key}}}
    assert dataset_pattern("data/inference", "_SUCCESS").matches_event(event) is starts
