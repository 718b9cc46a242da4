"""Before a step runs, its resolved request is checked against the SageMaker operation it stands for; an
out-of-contract request fails the step with the message SageMaker gives."""

from __future__ import annotations

import pytest
from runner_support import processing_step

from batchops_local.runner.errors import StepFailed
from batchops_local.runner.executor import STEP_OPERATIONS, validate_step_request


def test_a_442_character_environment_value_from_a_parameter_fails_the_processing_step(aws, runner):
    code = aws.put_script("noop.py", "print('never runs')\n")
    step = processing_step("Preprocess", code, environment={"DATASET_SCHEMA": {"Get": "Parameters.Schema"}})
    schema = "s" * 442
    sink, _ = runner.run([step], parameters=[{"Name": "Schema", "Type": "String", "DefaultValue": schema}])

    status, reason = sink.final
    assert status == "Failed"
    failed = sink.last("Preprocess")
    assert failed["status"] == "Failed"
    assert failed["reason"] == (
        "ClientError: Failed to invoke sagemaker:CreateProcessingJob. Error Details: 1 validation error detected: "
        f"Value '{{DATASET_SCHEMA={schema}}}' at 'environment' failed to satisfy constraint: Map value must satisfy "
        "constraint: [Member must have length less than or equal to 256]")
    assert "ProcessingJob" not in (failed["metadata"] or {})  # no job was started


def test_each_sagemaker_step_type_maps_to_its_create_operation():
    assert STEP_OPERATIONS["Processing"][0] == "CreateProcessingJob"
    assert STEP_OPERATIONS["Training"][0] == "CreateTrainingJob"
    assert STEP_OPERATIONS["Tuning"][0] == "CreateHyperParameterTuningJob"
    assert STEP_OPERATIONS["Transform"][0] == "CreateTransformJob"
    assert STEP_OPERATIONS["Model"][0] == "CreateModel"
    assert STEP_OPERATIONS["RegisterModel"][0] == "CreateModelPackage"


def test_model_package_metadata_from_an_event_key_is_checked_at_run_time():
    arguments = {"ModelPackageGroupName": "models", "CustomerMetadataProperties": {"InputKey": "drops/a (1),b.csv"},
                 "ModelApprovalStatus": "PendingManualApproval"}
    with pytest.raises(StepFailed, match=r"sagemaker:CreateModelPackage.*at 'customerMetadataProperties'"):
        validate_step_request("RegisterModel", arguments, {})
    validate_step_request("RegisterModel", {**arguments, "CustomerMetadataProperties": {"InputKey": "a/b.csv"}}, {})
