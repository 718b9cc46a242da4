"""The definitions' requests within the limits of botocore's SageMaker service model, for any schema size, and the
AWS-side settings of issue 16 (items 1, 3, 10, 15, 16)."""

from __future__ import annotations

import json

import pytest
from aws_request_shapes import definition_problems, problems_of
from pipeline_definition_tools import all_steps, processing_io
from pipeline_test_support import ACCOUNT_ID, network_guard

from batchops_core.settings import PIPELINE_KEYS, Column, Settings


def wide_settings(base: Settings, columns: int) -> Settings:
    """`columns` columns in all (long names): the schema no environment value could hold."""
    features = [Column(name=f"feature_with_a_long_name_{i:03d}", type="categorical" if i % 5 == 0 else "float")
                for i in range(columns - 2)]
    dataset = base.dataset.model_copy(update={
        "columns": [Column(name="record_id", type="integer"), *features, Column(name="rings", type="integer")]})
    return base.model_copy(update={"dataset": dataset})


@pytest.fixture(scope="module")
def wide_definitions(local_settings) -> dict[str, dict]:
    from pipelines.definitions import build_definitions

    with network_guard():
        texts = build_definitions(wide_settings(local_settings, 200), account_id=ACCOUNT_ID)
    return {key: json.loads(text) for key, text in texts.items()}


def test_the_shape_check_catches_what_aws_rejects():
    # The checks these tests rely on, against the values the definitions carried before (issue 16 items 1, 3).
    assert problems_of("CreateProcessingJob", {"Environment": {"DATASET_SCHEMA": "x" * 442}})
    assert problems_of("CreateModelPackage", {"CustomerMetadataProperties": {"TrainingData": "s3://b/abalone (1).csv"}})
    assert problems_of("CreateProcessingJob", {"Environmnet": {}})
    assert not problems_of("CreateProcessingJob", {"Environment": {"A": {"Get": "Parameters.InputKey"}}})


def test_every_request_value_of_a_200_column_schema_is_within_the_limits(wide_definitions):
    # Issue 16 item 1: the schema travels as a file, so no environment value grows with it.
    for key in PIPELINE_KEYS:
        assert definition_problems(wide_definitions[key]) == [], key
        for step in all_steps(wide_definitions[key]).values():
            for value in (step.get("Arguments", {}).get("Environment") or {}).values():
                assert not isinstance(value, str) or len(value) <= 256


@pytest.mark.parametrize("variant", ["local", "other", "monitor"])
def test_every_request_value_is_within_the_limits(variant, local_definitions, other_definitions, monitor_definitions):
    definitions = {"local": local_definitions, "other": other_definitions, "monitor": monitor_definitions}[variant]
    for key in PIPELINE_KEYS:
        assert definition_problems(definitions[key]) == [], key


def test_model_package_metadata_never_comes_from_the_s3_key(local_definitions):
    # Issue 16 item 3: a key such as 'abalone (1).csv' or over 256 characters would fail CreateModelPackage after
    # training; lineage is the execution ARN (its InputBucket/InputKey parameters hold the full location).
    register = all_steps(local_definitions["training"])["RegisterModel"]["Arguments"]
    text = json.dumps(register["CustomerMetadataProperties"])
    assert "Parameters.InputKey" not in text and "Parameters.InputBucket" not in text
    assert register["MetadataProperties"] == {"GeneratedBy": {"Get": "Execution.PipelineExecutionArn"}}


@pytest.mark.parametrize("key", ["training", "training_hpo"])
def test_the_registered_container_has_no_empty_program_keys(local_definitions, key):
    # Issue 16 item 10: SAGEMAKER_PROGRAM="" makes the XGBoost serving container import the module "".
    container = all_steps(local_definitions[key])["RegisterModel"]["Arguments"]["InferenceSpecification"][
        "Containers"][0]
    environment = container.get("Environment") or {}
    assert not [name for name, value in environment.items() if value == ""], environment
    assert "SAGEMAKER_PROGRAM" not in environment and "SAGEMAKER_SUBMIT_DIRECTORY" not in environment


def test_no_experiments_integration(local_definitions, monitor_definitions):
    # Issue 16 item 16: PipelineExperimentConfig needs Experiments permissions the execution role does not have.
    for definitions in (local_definitions, monitor_definitions):
        for key in PIPELINE_KEYS:
            assert definitions[key].get("PipelineExperimentConfig") is None, key


def test_schema_is_a_processing_input_not_an_environment_value(local_definitions, local_settings):
    from pipelines.common.code import dataset_schema_file

    steps = {**all_steps(local_definitions["training"]), **{f"inference {n}": s for n, s in
                                                             all_steps(local_definitions["inference"]).items()}}
    for name in ("Preprocess", "inference Preprocess", "inference ModelQualityCheck"):
        inputs, _ = processing_io(steps[name])
        assert inputs["schema"]["S3Uri"] == dataset_schema_file(local_settings).uri(local_settings), name


@pytest.mark.parametrize(("region", "partition"), [("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")])
def test_the_role_arn_carries_the_regions_partition(local_settings, region, partition):
    # Issue 16 item 15.
    from pipelines.common.context import execution_role_arn

    settings = local_settings.model_copy(update={"region": region})
    assert execution_role_arn(settings, ACCOUNT_ID) == (
        f"arn:{partition}:iam::{ACCOUNT_ID}:role/abalone-local-sagemaker-execution")


DRIFT_KEYS = ("comparison_threshold", "comparison_method", "categorical_drift_method")


@pytest.mark.parametrize("variant", ["monitor", "other"])
def test_drift_settings_reach_the_check_through_its_constraints(variant, monitor_definitions, other_definitions,
                                                                monitor_settings, other_settings):
    # Issue 16 item 9: the analyzer reads the drift settings from constraints.json (monitoring_config), not from
    # its environment; the inference Preprocess writes them into the constraints both engines' checks use.
    definitions, settings = {"monitor": (monitor_definitions, monitor_settings),
                             "other": (other_definitions, other_settings)}[variant]
    steps = all_steps(definitions["inference"])
    arguments = steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    quality = settings.data_quality
    assert arguments[arguments.index("--comparison-threshold") + 1] == str(quality.comparison_threshold)
    assert arguments[arguments.index("--comparison-method") + 1] == quality.comparison_method
    assert arguments[arguments.index("--categorical-drift-method") + 1] == quality.categorical_drift_method
    check = steps["DataQualityCheck"]
    supplied = check.get("SuppliedBaselineConstraints") or processing_io(check)[0]["baseline_constraints"]["S3Uri"]
    assert supplied["Std:Join"]["Values"][0] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['constraints'].S3Output.S3Uri"}
    if variant == "monitor":
        for name in ("DataQualityCheck",):
            assert not set(DRIFT_KEYS) & set(steps[name]["Arguments"].get("Environment") or {})
        baseline = all_steps(definitions["training"])["DataQualityBaseline"]
        assert not set(DRIFT_KEYS) & set(baseline["Arguments"].get("Environment") or {})
