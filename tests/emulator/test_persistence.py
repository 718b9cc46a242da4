"""The emulator's state survives a restart when it is given a state path (what the CLI's background server does):
S3 objects with their bytes and versions, pipelines, executions with their steps, the model registry; what was
still running comes back Failed with a reason; a snapshot of another moto version is refused in one line."""

from __future__ import annotations

import json
import threading

import pytest

from batchops_local.emulator import Emulator, context
from batchops_local.emulator.persistence import SNAPSHOT_FILE, SnapshotError, current_header

from .conftest import ROLE_ARN, Aws, RecordingHandler

BUCKET = "persisted-bucket"
GROUP = "persisted-models"
BINARY = bytes(range(256)) * 4  # every byte value, not only UTF-8
PIPELINE_DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [{"Name": "InputKey", "Type": "String"}],
    "Steps": [{"Name": "Work", "Type": "Processing", "Arguments": {}}],
}
INFERENCE_SPEC = {
    "Containers": [{"Image": "xgboost:1", "ModelDataUrl": "s3://persisted-bucket/model.tar.gz"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
INTERRUPTED = "the emulator stopped while this ran (restored from snapshot "


def _emulator(tmp_path, handler, **options) -> Emulator:
    return Emulator(
        tmp_path / "home",
        execution_handler=handler,
        load_aws_managed_policies=False,
        state_path=tmp_path / "home" / SNAPSHOT_FILE,
        **options,
    )


def _succeed_with_a_step(request, sink) -> None:
    sink.step_status(request.execution_arn, "Work", "Processing", "Executing")
    sink.step_status(request.execution_arn, "Work", "Processing", "Succeeded")
    sink.execution_status(request.execution_arn, "Succeeded")


def test_resources_executions_and_registry_come_back_after_a_stop(tmp_path):
    handler = RecordingHandler()
    handler.behaviour = _succeed_with_a_step
    first = _emulator(tmp_path, handler).start()
    try:
        aws = Aws(first)
        aws.s3.create_bucket(Bucket=BUCKET)
        aws.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        old = aws.s3.put_object(Bucket=BUCKET, Key="data/x.bin", Body=b"first version")["VersionId"]
        aws.s3.put_object(Bucket=BUCKET, Key="data/x.bin", Body=BINARY)
        aws.s3.put_object(Bucket=BUCKET, Key="data/large.bin", Body=b"L" * (6 * 1024 * 1024))  # a spooled file
        aws.sagemaker.create_pipeline(
            PipelineName="persisted", PipelineDefinition=json.dumps(PIPELINE_DEFINITION), RoleArn=aws.role()
        )
        done = aws.sagemaker.start_pipeline_execution(
            PipelineName="persisted", PipelineParameters=[{"Name": "InputKey", "Value": "data/x.bin"}]
        )["PipelineExecutionArn"]
        assert first.wait_for_execution(done) == "Succeeded"
        aws.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        for _ in range(2):
            aws.sagemaker.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=INFERENCE_SPEC)
        aws.sagemaker.delete_model_package(ModelPackageName=_package_arn(2))
        aws.sagemaker.update_model_package(ModelPackageArn=_package_arn(1), ModelApprovalStatus="Approved")
    finally:
        first.stop()
    assert (tmp_path / "home" / SNAPSHOT_FILE).is_file()

    second = _emulator(tmp_path, handler).start()
    try:
        aws = Aws(second)
        assert second.restored is not None and second.interrupted == []
        assert aws.s3.get_object(Bucket=BUCKET, Key="data/x.bin")["Body"].read() == BINARY
        assert aws.s3.get_object(Bucket=BUCKET, Key="data/x.bin", VersionId=old)["Body"].read() == b"first version"
        versions = aws.s3.list_object_versions(Bucket=BUCKET, Prefix="data/x.bin")["Versions"]
        assert len(versions) == 2
        assert aws.s3.get_object(Bucket=BUCKET, Key="data/large.bin")["Body"].read() == b"L" * (6 * 1024 * 1024)
        assert aws.s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"

        described = aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=done)
        assert described["PipelineExecutionStatus"] == "Succeeded"
        steps = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=done)["PipelineExecutionSteps"]
        assert [(s["StepName"], s["StepStatus"]) for s in steps] == [("Work", "Succeeded")]
        parameters = aws.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=done)
        assert parameters["PipelineParameters"] == [{"Name": "InputKey", "Value": "data/x.bin"}]

        packages = aws.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
        assert [(p["ModelPackageVersion"], p["ModelApprovalStatus"]) for p in packages] == [(1, "Approved")]
        # the registry's own bookkeeping came back too: a deleted version number is not reused
        third = aws.sagemaker.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=INFERENCE_SPEC)
        assert third["ModelPackageArn"] == _package_arn(3)

        again = aws.sagemaker.start_pipeline_execution(PipelineName="persisted")["PipelineExecutionArn"]
        assert second.wait_for_execution(again) == "Succeeded"
        listed = aws.sagemaker.list_pipeline_executions(PipelineName="persisted")["PipelineExecutionSummaries"]
        assert [e["PipelineExecutionArn"] for e in listed] == [again, done]
    finally:
        second.stop()


def test_what_was_running_comes_back_failed_with_a_reason(tmp_path):
    handler = RecordingHandler()
    started = threading.Event()

    def run_until_stopped(request, sink) -> None:
        sink.step_status(request.execution_arn, "Work", "Processing", "Executing")
        started.set()
        while not sink.stop_requested(request.execution_arn):
            threading.Event().wait(0.05)

    handler.behaviour = run_until_stopped
    first = _emulator(tmp_path, handler).start()
    try:
        aws = Aws(first)
        aws.sagemaker.create_pipeline(
            PipelineName="persisted", PipelineDefinition=json.dumps(PIPELINE_DEFINITION), RoleArn=aws.role()
        )
        running = aws.sagemaker.start_pipeline_execution(PipelineName="persisted")["PipelineExecutionArn"]
        assert started.wait(20)
        aws.sagemaker.create_processing_job(
            ProcessingJobName="persisted-job",
            RoleArn=ROLE_ARN,
            ProcessingResources={
                "ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
            },
            AppSpecification={"ImageUri": "sklearn:1"},
        )
        assert aws.sagemaker.describe_processing_job(ProcessingJobName="persisted-job")["ProcessingJobStatus"] == (
            "InProgress"
        )
    finally:
        first.stop()

    second = _emulator(tmp_path, handler).start()
    try:
        aws = Aws(second)
        assert second.interrupted == [running]
        described = aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=running)
        assert described["PipelineExecutionStatus"] == "Failed"
        assert described["FailureReason"].startswith(INTERRUPTED)
        assert second.restored is not None and second.restored["written_at"] in described["FailureReason"]
        step = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=running)["PipelineExecutionSteps"][0]
        assert step["StepStatus"] == "Failed" and step["FailureReason"].startswith(INTERRUPTED)
        job = aws.sagemaker.describe_processing_job(ProcessingJobName="persisted-job")
        assert job["ProcessingJobStatus"] == "Failed" and job["FailureReason"].startswith(INTERRUPTED)
        assert len(handler.requests) == 1  # nothing re-ran the interrupted execution
    finally:
        second.stop()


def test_a_snapshot_is_written_after_changes_without_a_stop_and_a_reset_discards_it(tmp_path, wait):
    emulator = _emulator(tmp_path, RecordingHandler(), snapshot_interval_seconds=0.2).start()
    snapshot = tmp_path / "home" / SNAPSHOT_FILE
    try:
        Aws(emulator).s3.create_bucket(Bucket=BUCKET)
        wait(lambda: emulator.snapshotter.last is not None, what="a snapshot after CreateBucket")
        assert snapshot.read_bytes().split(b"\n", 1)[0] and BUCKET.encode() in snapshot.read_bytes()
        emulator.reset()
        wait(lambda: BUCKET.encode() not in snapshot.read_bytes() if snapshot.exists() else True, what="reset")
    finally:
        emulator.stop()
    restarted = _emulator(tmp_path, RecordingHandler()).start()
    try:
        assert Aws(restarted).s3.list_buckets()["Buckets"] == []
    finally:
        restarted.stop()


def test_a_snapshot_of_another_moto_version_is_refused_before_listening(tmp_path):
    snapshot = tmp_path / "home" / SNAPSHOT_FILE
    snapshot.parent.mkdir()
    header = {**current_header(), "moto": "4.0.0", "written_at": "2020-01-01T00:00:00Z"}
    snapshot.write_bytes(json.dumps(header).encode() + b"\nnot a pickle of this moto")
    emulator = _emulator(tmp_path, RecordingHandler())
    with pytest.raises(SnapshotError) as refused:
        emulator.start()
    message = str(refused.value)
    assert "\n" not in message
    assert f"{snapshot}: the emulator snapshot was written with format 1, moto 4.0.0" in message
    assert f"moto {current_header()['moto']}" in message and "delete the file" in message
    assert not emulator.running and context.active_or_none() is None
    assert snapshot.read_bytes().startswith(json.dumps(header).encode())  # nothing overwritten


def test_without_a_state_path_nothing_is_written(tmp_path, emulator, aws):
    aws.s3.create_bucket(Bucket=BUCKET)
    emulator.stop()
    assert emulator.snapshotter is None
    assert not list((tmp_path / "home").rglob(f"*{SNAPSHOT_FILE}*"))


def test_a_saved_snapshot_restores_into_another_home_and_is_only_read_from_there(tmp_path):
    """What the tests' shared stack does: one emulator saves its state once; another, in another home and on
    another port, starts from it, changes things, and the file it started from stays as it was."""
    saved = tmp_path / "prepared" / SNAPSHOT_FILE
    first = Emulator(tmp_path / "first", execution_handler=RecordingHandler(), load_aws_managed_policies=False)
    first.start()
    try:
        Aws(first).s3.create_bucket(Bucket=BUCKET)
        Aws(first).s3.put_object(Bucket=BUCKET, Key="data/x.bin", Body=BINARY)
        facts = first.save_snapshot(saved)
        assert facts["bytes"] > len(BINARY) and first.snapshotter is None  # written once, nothing kept writing
    finally:
        first.stop()
    written = saved.read_bytes()

    second = Emulator(tmp_path / "second", execution_handler=RecordingHandler(), load_aws_managed_policies=False,
                      restore_from=saved)
    second.start()
    try:
        aws = Aws(second)
        assert second.restored is not None and second.interrupted == []
        assert aws.s3.get_object(Bucket=BUCKET, Key="data/x.bin")["Body"].read() == BINARY
        aws.s3.put_object(Bucket=BUCKET, Key="data/y.bin", Body=b"the copy's own change")
        aws.s3.create_bucket(Bucket="another-bucket")
        assert second.snapshotter is None
    finally:
        second.stop()
    assert saved.read_bytes() == written
    assert not list((tmp_path / "second").rglob(f"*{SNAPSHOT_FILE}*"))


def test_restoring_from_a_missing_snapshot_fails_instead_of_starting_empty(tmp_path):
    missing = tmp_path / "prepared" / SNAPSHOT_FILE
    emulator = Emulator(tmp_path / "home", execution_handler=None, restore_from=missing)
    with pytest.raises(SnapshotError, match=f"^{missing}: no emulator snapshot to restore from$"):
        emulator.start()
    assert not emulator.running and context.active_or_none() is None
    with pytest.raises(ValueError, match="not both"):
        Emulator(tmp_path / "home", state_path=missing, restore_from=missing)


def _package_arn(version: int) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/{version}"
