"""The runner behind the real emulator: statuses through the API, StopPipelineExecution, failure reasons."""

from __future__ import annotations

import json
import time

import pytest
from runner_support import ROLE, processing_step

from batchops_local.runtime import start_local_aws

SLEEP = "import sys, time\ntime.sleep(float(sys.argv[1]))\n"
BUCKET = "runner-integration"


@pytest.fixture
def local_aws(tmp_path):
    with start_local_aws(tmp_path / "home") as running:
        running.client("s3").create_bucket(Bucket=BUCKET)
        yield running


def _pipeline(local_aws, name: str, steps: list[dict]) -> str:
    definition = {"Version": "2020-12-01", "Metadata": {}, "Parameters": [], "Steps": steps}
    local_aws.client("sagemaker").create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition),
                                                  RoleArn=ROLE)
    return local_aws.client("sagemaker").start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]


def _sleep_script(local_aws) -> str:
    local_aws.client("s3").put_object(Bucket=BUCKET, Key="code/sleep.py", Body=SLEEP.encode())
    return f"s3://{BUCKET}/code/sleep.py"


def _steps(sagemaker, arn: str) -> dict[str, dict]:
    return {s["StepName"]: s for s in sagemaker.list_pipeline_execution_steps(
        PipelineExecutionArn=arn)["PipelineExecutionSteps"]}


def test_stop_pipeline_execution_stops_the_running_step(local_aws):
    code = _sleep_script(local_aws)
    arn = _pipeline(local_aws, "runner-stop", [processing_step("Long", code, arguments=["60"]),
                                               processing_step("Later", code, arguments=["0"], DependsOn=["Long"])])
    sagemaker = local_aws.client("sagemaker")
    deadline = time.monotonic() + 60
    while _steps(sagemaker, arn).get("Long", {}).get("StepStatus") != "Executing":
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.2)
    sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert local_aws.wait_for_execution(arn, timeout=60) == "Stopped"
    steps = _steps(sagemaker, arn)
    assert steps["Long"]["StepStatus"] == "Stopped" and "Later" not in steps
    assert sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Stopped"


def test_a_fail_step_fails_the_execution_with_sagemakers_generic_reason_and_keeps_its_message(local_aws):
    arn = _pipeline(local_aws, "runner-fail", [
        {"Name": "Gate", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "GreaterThan", "LeftValue": 1, "RightValue": 2}],
            "IfSteps": [], "ElseSteps": [{"Name": "Stop", "Type": "Fail",
                                          "Arguments": {"ErrorMessage": "1 is not above 2"}}]}}])
    assert local_aws.wait_for_execution(arn, timeout=60) == "Failed"
    sagemaker = local_aws.client("sagemaker")
    description = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    # SageMaker's execution reason is generic; the Fail step keeps its message (sagemaker-python-sdk
    # tests/integ/sagemaker/workflow/test_fail_steps.py).
    assert description["FailureReason"] == "Step failure: One or multiple steps failed."
    steps = _steps(sagemaker, arn)
    assert steps["Gate"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert steps["Stop"]["StepStatus"] == "Failed" and steps["Stop"]["Metadata"]["Fail"]["ErrorMessage"] == \
        "1 is not above 2"
