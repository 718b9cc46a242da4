"""Processing jobs read as SageMaker writes them: InProgress until the job ends, then Completed / Failed with
FailureReason, ExitMessage (the first 1 KB of /opt/ml/output/message), start and end times; the pipeline step
and execution failure reasons as SageMaker Pipelines reports them."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from batchops_local.runtime import start_local_aws

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobs-test"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ALGORITHM_ERROR = "AlgorithmError: See job logs for more information"

WRITES_MESSAGE = r'''
import os, pathlib, sys
base = pathlib.Path(os.environ["SAGEMAKER_BASE_DIR"])
(base / "output").mkdir(parents=True, exist_ok=True)
(base / "output" / "message").write_text(sys.argv[1])
sys.exit(int(sys.argv[2]))
'''


@pytest.fixture
def local_aws(tmp_path):
    runtime = start_local_aws(tmp_path / "home", load_aws_managed_policies=False, warm_up_services=False)
    try:
        yield runtime
    finally:
        runtime.stop()


def _processing_step(name: str, code_uri: str, arguments: list[str], **extra) -> dict:
    return {"Name": name, "Type": "Processing", **extra, "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": IMAGE, "ContainerArguments": arguments,
                             "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/script.py"]},
        "RoleArn": ROLE,
        "Environment": {"STAGE": name},
        "ProcessingInputs": [{"InputName": "code", "S3Input": {
            "S3Uri": code_uri, "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}],
    }}


def test_a_created_job_is_in_progress_until_its_end_is_reported(local_aws):
    from batchops_local.emulator import context

    sagemaker = local_aws.client("sagemaker")
    arn = sagemaker.create_processing_job(
        ProcessingJobName="direct-job", RoleArn=ROLE, Environment={"MODE": "check"},
        ProcessingResources={"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                               "VolumeSizeInGB": 30}},
        AppSpecification={"ImageUri": IMAGE})["ProcessingJobArn"]
    running = sagemaker.describe_processing_job(ProcessingJobName="direct-job")
    assert running["ProcessingJobStatus"] == "InProgress"
    assert running["Environment"] == {"MODE": "check"} and running["ProcessingResources"]["ClusterConfig"]
    assert "ProcessingStartTime" in running and "ProcessingEndTime" not in running
    [summary] = sagemaker.list_processing_jobs()["ProcessingJobSummaries"]
    assert summary["ProcessingJobStatus"] == "InProgress" and "ProcessingEndTime" not in summary

    # 1 KB of the message, as bytes: the two-byte character cut at the boundary is dropped.
    message = ("x" * 1023 + "é" + "tail").encode()
    context.active().executions.job_finished(arn, "Failed", failure_reason=ALGORITHM_ERROR,
                                             exit_message_bytes=message)
    ended = sagemaker.describe_processing_job(ProcessingJobName="direct-job")
    assert (ended["ProcessingJobStatus"], ended["FailureReason"]) == ("Failed", ALGORITHM_ERROR)
    assert ended["ExitMessage"] == "x" * 1023
    assert ended["ProcessingStartTime"] <= ended["ProcessingEndTime"]
    [summary] = sagemaker.list_processing_jobs(StatusEquals="Failed")["ProcessingJobSummaries"]
    assert (summary["FailureReason"], summary["ExitMessage"]) == (ALGORITHM_ERROR, "x" * 1023)
    with pytest.raises(ClientError):
        sagemaker.stop_processing_job(ProcessingJobName="direct-job")  # only a job in progress can be stopped
    with pytest.raises(ValueError, match="already ended Failed"):
        context.active().executions.job_finished(arn, "Completed")


def test_a_failing_script_fails_job_step_and_execution_as_sagemaker_reports_them(local_aws):
    s3, sagemaker = local_aws.client("s3"), local_aws.client("sagemaker")
    s3.create_bucket(Bucket="jobs-test")
    s3.put_object(Bucket="jobs-test", Key="code/script.py", Body=WRITES_MESSAGE.encode())
    code = "s3://jobs-test/code/script.py"
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [
        _processing_step("Check", code, ["all 12 rows valid", "0"]),
        _processing_step("Validate", code, ["input has 3 rows, need at least 10", "1"], DependsOn=["Check"]),
    ]}
    sagemaker.create_pipeline(PipelineName="jobs-test", PipelineDefinition=json.dumps(definition), RoleArn=ROLE)
    arn = sagemaker.start_pipeline_execution(PipelineName="jobs-test")["PipelineExecutionArn"]
    assert local_aws.wait_for_execution(arn, timeout=120) == "Failed"

    steps = {s["StepName"]: s for s in sagemaker.list_pipeline_execution_steps(
        PipelineExecutionArn=arn)["PipelineExecutionSteps"]}
    assert steps["Validate"]["FailureReason"] == ALGORITHM_ERROR
    assert sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["FailureReason"] == \
        "Step failure: One or multiple steps failed."

    def job(step: str) -> dict:
        name = steps[step]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
        return sagemaker.describe_processing_job(ProcessingJobName=name)

    failed, completed = job("Validate"), job("Check")
    assert (failed["ProcessingJobStatus"], failed["FailureReason"]) == ("Failed", ALGORITHM_ERROR)
    assert failed["ExitMessage"] == "input has 3 rows, need at least 10"
    assert failed["Environment"] == {"STAGE": "Validate"}
    assert failed["ProcessingStartTime"] <= failed["ProcessingEndTime"]
    # An exit message is kept whatever the terminal status; a completed job has no FailureReason.
    assert completed["ProcessingJobStatus"] == "Completed" and "FailureReason" not in completed
    assert completed["ExitMessage"] == "all 12 rows valid"


def test_a_training_job_is_in_progress_until_it_completes_with_its_model_and_metrics(local_aws):
    from batchops_local.emulator import context

    sagemaker = local_aws.client("sagemaker")
    arn = sagemaker.create_training_job(
        TrainingJobName="train-job", RoleArn=ROLE, Environment={"SEED": "7"},
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://jobs-test/models/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 600})["TrainingJobArn"]
    running = sagemaker.describe_training_job(TrainingJobName="train-job")
    assert running["TrainingJobStatus"] == "InProgress" and running["Environment"] == {"SEED": "7"}
    assert "ModelArtifacts" not in running and "TrainingEndTime" not in running

    context.active().executions.job_finished(arn, "Completed", final_metrics={"validation:rmse": 2.1})
    done = sagemaker.describe_training_job(TrainingJobName="train-job")
    assert done["TrainingJobStatus"] == "Completed" and "FailureReason" not in done
    assert done["ModelArtifacts"] == {"S3ModelArtifacts": "s3://jobs-test/models/train-job/output/model.tar.gz"}
    assert [(m["MetricName"], m["Value"]) for m in done["FinalMetricDataList"]] == [("validation:rmse", 2.1)]
    [summary] = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    assert summary["TrainingJobStatus"] == "Completed" and "TrainingEndTime" in summary
