"""Definitions with compute.processing_instance_count = 2, built by the SDK: the steps that split their work run on
two instances (the inference Preprocess; the built-in engine's DataQualityCheckShards, whose dataset input is
ShardedByS3Key, merged by DataQualityCheck on one instance), every other processing step on one; the training
pipelines are unchanged; a count SageMaker refuses is refused by the config."""

from __future__ import annotations

import json

import pytest
from aws_request_shapes import definition_problems
from pipeline_definition_tools import all_steps, processing_io, referenced_steps, unresolved_references
from pipeline_test_support import ACCOUNT_ID, network_guard
from pydantic import ValidationError

from batchops_core import contracts
from batchops_core.contracts import Step
from batchops_core.settings import PIPELINE_KEYS, Settings

SHARDS = contracts.SHARDS_STEPS[Step.DATA_QUALITY_CHECK]
INSTANCES = 2


def with_instances(settings: Settings, count: int) -> Settings:
    return settings.model_copy(update={"compute": settings.compute.model_copy(
        update={"processing_instance_count": count})})


def build(settings: Settings) -> dict[str, dict]:
    from pipelines.definitions import build_definitions

    with network_guard():
        texts = build_definitions(settings, account_id=ACCOUNT_ID)
    return {key: json.loads(text) for key, text in texts.items()}


@pytest.fixture(scope="module")
def scaled(local_settings) -> dict[str, dict]:
    return build(with_instances(local_settings, INSTANCES))


@pytest.fixture(scope="module")
def scaled_monitor(monitor_settings) -> dict[str, dict]:
    return build(with_instances(monitor_settings, INSTANCES))


def instance_count(step: dict) -> int:
    return step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"]


def test_only_the_steps_that_split_their_work_get_several_instances(scaled, local_definitions):
    steps = all_steps(scaled["inference"])
    assert set(steps) == set(all_steps(local_definitions["inference"])) | {SHARDS}
    counts = {name: instance_count(step) for name, step in steps.items() if step["Type"] == "Processing"}
    assert counts == {**{name: 1 for name in counts}, Step.PREPROCESS: INSTANCES, SHARDS: INSTANCES}
    order = [step["Name"] for step in scaled["inference"]["Steps"]]
    assert order.index(Step.PREPROCESS) < order.index(SHARDS) < order.index(Step.DATA_QUALITY_CHECK)


def test_the_shards_step_profiles_each_instances_share_of_the_batch(scaled, local_definitions):
    shards = all_steps(scaled["inference"])[SHARDS]
    single = all_steps(local_definitions["inference"])[Step.DATA_QUALITY_CHECK]
    inputs, outputs = processing_io(shards)
    dataset = inputs["baseline_dataset_input"]
    assert dataset["S3DataDistributionType"] == "ShardedByS3Key"
    assert dataset["S3Uri"] == processing_io(single)[0]["baseline_dataset_input"]["S3Uri"]  # Preprocess's output
    # Every instance gets the whole baseline (its categories and domains are counted exactly in each share).
    for name in ("baseline_statistics", "baseline_constraints"):
        assert inputs[name] == processing_io(single)[0][name]
        assert inputs[name]["S3DataDistributionType"] == "FullyReplicated"
    assert list(outputs) == ["partials"]
    environment = shards["Arguments"]["Environment"]
    assert environment["partial_output"] == outputs["partials"]["LocalPath"]
    assert environment["dataset_source"] == dataset["LocalPath"]
    # A shard decides nothing: no result, no failing on violations.
    assert not {"step_name", "step_result_path", "fail_on_violation"} & set(environment)
    assert referenced_steps(shards) == {"ResolveModel", "Preprocess"}


def test_the_check_merges_the_partial_profiles_into_the_same_outputs(scaled, local_definitions):
    check = all_steps(scaled["inference"])[Step.DATA_QUALITY_CHECK]
    single = all_steps(local_definitions["inference"])[Step.DATA_QUALITY_CHECK]
    inputs, outputs = processing_io(check)
    assert instance_count(check) == 1
    assert inputs["partials"]["S3Uri"] == {
        "Get": f"Steps.{SHARDS}.ProcessingOutputConfig.Outputs['partials'].S3Output.S3Uri"}
    assert inputs["partials"]["S3DataDistributionType"] == "FullyReplicated"
    assert "baseline_dataset_input" not in inputs
    assert outputs == processing_io(single)[1]  # the reports and result.json where one instance writes them
    environment = check["Arguments"]["Environment"]
    assert environment["partials_source"] == inputs["partials"]["LocalPath"]
    assert "dataset_source" not in environment
    expected = {key: value for key, value in single["Arguments"]["Environment"].items() if key != "dataset_source"}
    assert {key: value for key, value in environment.items() if key != "partials_source"} == expected
    # What follows the check reads it as before.
    assert all_steps(scaled["inference"])[Step.BATCH_TRANSFORM]["DependsOn"] == [Step.DATA_QUALITY_CHECK]


def test_the_scaled_definitions_are_valid_requests_with_resolvable_references(scaled, scaled_monitor):
    for definitions in (scaled, scaled_monitor):
        for key in PIPELINE_KEYS:
            assert unresolved_references(definitions[key]) == [], key
            assert definition_problems(definitions[key]) == [], key


def test_training_pipelines_are_unchanged(scaled, local_definitions):
    # The baseline dataset is the one file (the training split) the one-instance Preprocess writes: one instance.
    for key in PIPELINE_KEYS:
        if key != contracts.INFERENCE:
            assert scaled[key] == local_definitions[key], key


def test_the_model_monitor_analyzer_spreads_one_job_itself(scaled_monitor):
    steps = all_steps(scaled_monitor["inference"])
    assert SHARDS not in steps
    assert steps[Step.DATA_QUALITY_CHECK]["Type"] == "QualityCheck"
    assert instance_count(steps[Step.DATA_QUALITY_CHECK]) == INSTANCES


def test_a_count_above_the_api_limit_is_refused_naming_it(local_settings):
    from batchops_core.settings import sagemaker_limit

    limit = sagemaker_limit("ProcessingInstanceCount", "max")
    compute, data = type(local_settings.compute), local_settings.compute.model_dump()
    assert compute.model_validate({**data, "processing_instance_count": limit}).processing_instance_count == limit
    with pytest.raises(ValidationError, match=rf"at most {limit} \(SageMaker's limit of a processing job's "):
        compute.model_validate({**data, "processing_instance_count": limit + 1})
