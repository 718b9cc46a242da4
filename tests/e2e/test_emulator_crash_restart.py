"""A crash of the background emulator (SIGKILL of the server `batchops emulator up` started, mid-execution) loses
nothing but the last seconds: after `emulator up` the buckets, objects, pipelines, model registry and past
executions are back, the execution that was running is Failed with a reason, and a new run succeeds."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import boto3
import psutil
import pytest
from typer.testing import CliRunner

from batchops.cli import app
from batchops_core.settings import load_settings
from batchops_local.emulator.persistence import SNAPSHOT_FILE
from batchops_local.runtime import stop_background

pytestmark = pytest.mark.slow  # a background emulator, a processing step in the scikit-learn runtime

SETTINGS = load_settings("local")
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/crash-test"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "crash-test-data"
GROUP = "crash-test-models"
BINARY = bytes(range(256)) * 8
QUICK = {"Version": "2020-12-01", "Parameters": [], "Steps": [{"Name": "Check", "Type": "Condition", "Arguments": {
    "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}], "IfSteps": [], "ElseSteps": []}}]}
# configured names: `runs list` shows their executions
QUICK_NAME, SLEEPING_NAME = SETTINGS.pipelines.inference_name, SETTINGS.pipelines.training_name
INTERRUPTED = "the emulator stopped while this ran (restored from snapshot "


def _sleeping(code_uri: str) -> dict:
    """One processing step whose script sleeps far longer than the test runs."""
    return {"Version": "2020-12-01", "Parameters": [], "Steps": [{"Name": "Sleep", "Type": "Processing", "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": IMAGE,
                             "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/sleep.py"]},
        "RoleArn": ROLE,
        "ProcessingInputs": [{"InputName": "code", "AppManaged": False, "S3Input": {
            "S3Uri": code_uri, "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}],
        "ProcessingOutputConfig": {"Outputs": []},
    }}]}


def _until(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _clients(home):
    endpoint = json.loads((home / "emulator.json").read_text())["endpoint_url"]
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=SETTINGS.region)
    return {name: session.client(name, endpoint_url=endpoint) for name in ("s3", "sagemaker", "ssm")}


def _status(sagemaker, arn: str) -> str:
    return sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]


def test_a_killed_emulator_comes_back_with_its_state(tmp_path):
    home = tmp_path / "home"
    cli = CliRunner()
    orphans: list[psutil.Process] = []
    up = cli.invoke(app, ["--home", str(home), "emulator", "up"])
    try:
        assert up.exit_code == 0, up.output
        aws = _clients(home)
        s3, sagemaker = aws["s3"], aws["sagemaker"]
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        first = s3.put_object(Bucket=BUCKET, Key="data/a.bin", Body=b"version one")["VersionId"]
        s3.put_object(Bucket=BUCKET, Key="data/a.bin", Body=BINARY)
        s3.put_object(Bucket=BUCKET, Key="code/sleep.py", Body=b"import time\ntime.sleep(600)\n")
        aws["ssm"].put_parameter(Name="/crash-test/pointer", Value="v1", Type="String")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        package = sagemaker.create_model_package(
            ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [{"Image": "xgboost:1", "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
                                    "SupportedContentTypes": ["text/csv"],
                                    "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
        sagemaker.create_pipeline(PipelineName=QUICK_NAME, PipelineDefinition=json.dumps(QUICK), RoleArn=ROLE)
        sagemaker.create_pipeline(PipelineName=SLEEPING_NAME, RoleArn=ROLE,
                                  PipelineDefinition=json.dumps(_sleeping(f"s3://{BUCKET}/code/sleep.py")))
        past = sagemaker.start_pipeline_execution(PipelineName=QUICK_NAME)["PipelineExecutionArn"]
        _until(lambda: _status(sagemaker, past) == "Succeeded", "the quick run")
        running = sagemaker.start_pipeline_execution(PipelineName=SLEEPING_NAME)["PipelineExecutionArn"]

        def sleeping_step():
            steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=running)["PipelineExecutionSteps"]
            return steps[0] if steps and steps[0]["StepStatus"] == "Executing" else None

        started = _until(sleeping_step, "the sleeping step")["StartTime"].timestamp()
        # A change is written after the 2 s debounce: a snapshot newer than half a second past it has it
        snapshot = home / SNAPSHOT_FILE
        # (the first snapshot may not exist yet: that is "not yet", not an error)
        _until(lambda: snapshot.exists() and snapshot.stat().st_mtime > started + 0.5,
               "a snapshot with the running step", 30)

        pid = json.loads((home / "emulator.json").read_text())["pid"]
        server = psutil.Process(pid)
        orphans = server.children(recursive=True)  # the step's process: ours to stop after the crash
        os.kill(pid, signal.SIGKILL)
        server.wait(30)
        assert cli.invoke(app, ["--home", str(home), "emulator", "status"]).exit_code == 1

        again = cli.invoke(app, ["--home", str(home), "emulator", "up"])
        assert again.exit_code == 0, again.output
        assert "state restored from" in again.output
        assert f"{running}: was running when the emulator stopped; now Failed" in again.output
        aws = _clients(home)
        s3, sagemaker = aws["s3"], aws["sagemaker"]
        assert s3.get_object(Bucket=BUCKET, Key="data/a.bin")["Body"].read() == BINARY
        assert s3.get_object(Bucket=BUCKET, Key="data/a.bin", VersionId=first)["Body"].read() == b"version one"
        assert aws["ssm"].get_parameter(Name="/crash-test/pointer")["Parameter"]["Value"] == "v1"
        names = {p["PipelineName"] for p in sagemaker.list_pipelines()["PipelineSummaries"]}
        assert {QUICK_NAME, SLEEPING_NAME} <= names
        assert sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "Approved"
        assert _status(sagemaker, past) == "Succeeded"
        crashed = sagemaker.describe_pipeline_execution(PipelineExecutionArn=running)
        assert crashed["PipelineExecutionStatus"] == "Failed"
        assert crashed["FailureReason"].startswith(INTERRUPTED)
        step = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=running)["PipelineExecutionSteps"][0]
        assert step["StepStatus"] == "Failed" and step["FailureReason"].startswith(INTERRUPTED)
        listed = cli.invoke(app, ["--home", str(home), "runs", "list"], env={"COLUMNS": "250"})
        assert listed.exit_code == 0, listed.output
        crashed_row = rf"{running.rsplit('/', 1)[-1]} +│ training +│ Failed .*│ {re.escape(INTERRUPTED)}"
        assert re.search(crashed_row, listed.output), listed.output

        new = sagemaker.start_pipeline_execution(PipelineName=QUICK_NAME)["PipelineExecutionArn"]
        _until(lambda: _status(sagemaker, new) in ("Succeeded", "Failed", "Stopped"), "the new run")
        assert _status(sagemaker, new) == "Succeeded"
    finally:
        down = cli.invoke(app, ["--home", str(home), "emulator", "down"])
        stop_background(home)  # no-op when `down` worked
        for process in orphans:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
    assert down.exit_code == 0, down.output
