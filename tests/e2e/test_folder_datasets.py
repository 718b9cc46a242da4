"""Datasets of many files and predictions where consumers look (issue 23), on the Terraform-applied local stack
with an approved model, everything started through EventBridge by the S3 events of the drops:

- 12 gzip part files of one batch start nothing; its trigger file starts exactly one inference run, which scores
  every row of every part and publishes them under the results prefix, at the key mirroring the folder, with the
  header, the model version and the run in the object's metadata; the results-ready event and the success email
  name that location, and `batchops runs show` prints it;
- `batchops data drop DIR --kind training` uploads a folder dataset (parts, then the trigger) that trains;
- a trigger for an empty folder, or parts of different headers, fail the first step that reads the data, naming
  the files; nothing is published.

The stack is benchmarks/bench_load.py's."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import math
import time

import bench_load  # benchmarks/: on the path by tests/e2e/conftest.py
import pandas as pd
import pytest

from batchops import operations as ops
from batchops import report
from batchops.demo_data import DEMO_RECORD_KEY, DEMO_TARGET, REFERENCE, generate
from batchops_core import contracts, datasets
from batchops_core.contracts import Step
from batchops_local.emulator import read_outbox

pytestmark = pytest.mark.slow

PARTS = 12
ROWS_PER_PART = 15
TIMEOUT = 900
QUIET_SECONDS = 5.0  # S3 events reach EventBridge as the object is written; a started run is listed at once


def started(target, key: str, known: set[str]) -> ops.Execution:
    fresh = ops.wait_for(lambda: bench_load.execution_arns(target, key) - known, timeout=120,
                         what=f"a new {key} execution")
    time.sleep(QUIET_SECONDS)  # a second start would show by now
    fresh = bench_load.execution_arns(target, key) - known
    assert len(fresh) == 1, fresh
    return ops.wait_for_execution(target, fresh.pop(), timeout=TIMEOUT, poll=1.0)


def gzipped(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(index=False).encode(), mtime=0)


def put(target, key: str, body: bytes) -> None:
    target.client("s3").put_object(Bucket=target.settings.bucket, Key=key, Body=body)


def results_ready_listener(target) -> str:
    """A consumer's rule for the results-ready event with an SQS queue as its target; returns the queue URL."""
    sqs, events = target.client("sqs"), target.client("events")
    url = sqs.create_queue(QueueName="results-ready-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="results-ready-consumer", EventPattern=json.dumps({
        "source": [contracts.RESULTS_EVENT_SOURCE], "detail-type": [contracts.RESULTS_READY_DETAIL_TYPE]}))
    events.put_targets(Rule="results-ready-consumer", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def test_part_files_start_nothing_and_their_trigger_one_run_that_publishes_every_row(approved_stack, stack_cli):
    local_aws, target = approved_stack
    settings = target.settings
    frame = generate(REFERENCE, PARTS * ROWS_PER_PART, seed=2300, id_prefix="folder").drop(columns=[DEMO_TARGET])
    folder = f"{settings.prefixes.inference}/2026-12-03/batch"
    listener = results_ready_listener(target)
    known = bench_load.execution_arns(target, "inference")

    for number in range(PARTS):
        part = frame.iloc[number * ROWS_PER_PART:(number + 1) * ROWS_PER_PART]
        put(target, f"{folder}/part-{number:05d}{datasets.PART_SUFFIX}", gzipped(part))
    time.sleep(QUIET_SECONDS)
    assert bench_load.execution_arns(target, "inference") == known  # the parts alone start nothing

    put(target, f"{folder}/{settings.folder_datasets.trigger_file}", b"")
    run = started(target, "inference", known)
    assert run.status == "Succeeded", run.failure_reason

    # Published at the mirrored key: header, every row of every part once, the model version, the run's ARN.
    key = f"{settings.prefixes.results}/2026-12-03/batch/{datasets.FOLDER_RESULTS_NAME}"
    answer = target.client("s3").get_object(Bucket=settings.bucket, Key=key)
    rows = list(csv.reader(io.StringIO(answer["Body"].read().decode())))
    assert rows[0] == [DEMO_RECORD_KEY, "prediction", "model_package_version"]
    assert sorted(row[0] for row in rows[1:]) == sorted(frame[DEMO_RECORD_KEY])
    active = target.client("ssm").get_parameter(
        Name=contracts.active_model_parameter(settings.project, settings.environment))["Parameter"]["Value"]
    assert {row[2] for row in rows[1:]} == {active.rsplit("/", 1)[-1]}
    assert all(float(row[1]) == float(row[1]) for row in rows[1:])  # numbers, not NaN
    assert answer["Metadata"][contracts.RESULTS_METADATA_EXECUTION] == run.arn
    location = f"s3://{settings.bucket}/{key}"

    # The results-ready event, as a consumer's rule on the default bus receives it.
    messages = target.client("sqs").receive_message(QueueUrl=listener, MaxNumberOfMessages=10,
                                                    WaitTimeSeconds=1).get("Messages", [])
    details = [json.loads(m["Body"])["detail"] for m in messages]
    assert [d for d in details if d["pipelineExecutionArn"] == run.arn] == [{
        "pipelineExecutionArn": run.arn, "batch": f"s3://{settings.bucket}/{folder}/", "results": location,
        "rows": PARTS * ROWS_PER_PART, "modelPackageArn": active}]

    shown = stack_cli("runs", "show", run.execution_id)
    assert shown.exit_code == 0, shown.output
    assert f"predictions: {location}" in shown.output

    def success_email():
        return [m for m in read_outbox(local_aws.home)
                if run.execution_id in str(m.get("body")) and "execution succeeded" in str(m.get("subject"))]

    emails = ops.wait_for(success_email, timeout=120, what="the success email of the folder run")
    assert all(f"Predictions: {location}" in m["body"] for m in emails)


def test_a_batch_scored_again_keeps_the_earlier_results_as_a_version(approved_stack):
    _, target = approved_stack
    settings = target.settings
    frame = generate(REFERENCE, 30, seed=2301, id_prefix="again").drop(columns=[DEMO_TARGET])
    key = f"{settings.prefixes.inference}/again/batch.csv"
    results_key = f"{settings.prefixes.results}/again/batch.csv"
    runs = []
    for _ in range(2):
        known = bench_load.execution_arns(target, "inference")
        put(target, key, frame.to_csv(index=False).encode())
        run = started(target, "inference", known)
        assert run.status == "Succeeded", run.failure_reason
        runs.append(run.arn)
    versions = target.client("s3").list_object_versions(Bucket=settings.bucket, Prefix=results_key)["Versions"]
    written_by = [target.client("s3").head_object(Bucket=settings.bucket, Key=results_key, VersionId=v["VersionId"])
                  ["Metadata"][contracts.RESULTS_METADATA_EXECUTION] for v in versions if v["Key"] == results_key]
    assert sorted(written_by) == sorted(runs)


def test_a_folder_dropped_with_batchops_data_drop_trains(approved_stack, stack_cli, tmp_path):
    _, target = approved_stack
    settings = target.settings
    frame = generate(REFERENCE, 300, seed=2302, id_prefix="train")
    directory = tmp_path / "training-folder"
    directory.mkdir()
    for number in range(4):
        frame.iloc[number * 75:(number + 1) * 75].to_csv(directory / f"part-{number}.csv", index=False)
    known = bench_load.execution_arns(target, "training")
    dropped = stack_cli("data", "drop", str(directory), "--kind", "training", "--as", "folder-train")
    assert dropped.exit_code == 0, dropped.output
    lines = [line for line in dropped.output.splitlines() if line.startswith("dropped ")]
    assert len(lines) == 5 and lines[-1].split()[1].endswith(f"/folder-train/{settings.folder_datasets.trigger_file}")
    run = started(target, "training", known)
    steps = {step.name: step for step in ops.execution_steps(target, run.arn)}
    assert steps[Step.TRAIN].status == "Succeeded", run.failure_reason
    log = (target.client("s3").list_objects_v2(Bucket=settings.bucket,
                                               Prefix=f"{settings.prefixes.training}/folder-train/")["Contents"])
    assert sorted(item["Key"].rsplit("/", 1)[-1] for item in log) == [
        settings.folder_datasets.trigger_file, *(f"part-{n}.csv.gz" for n in range(4))]


@pytest.mark.parametrize("case", ["empty", "headers"])
def test_an_empty_folder_or_parts_of_different_headers_fail_before_scoring(approved_stack, case):
    _, target = approved_stack
    settings = target.settings
    folder = f"{settings.prefixes.inference}/broken-{case}"
    frame = generate(REFERENCE, 20, seed=2303, id_prefix=case).drop(columns=[DEMO_TARGET])
    if case == "headers":
        put(target, f"{folder}/part-0{datasets.PART_SUFFIX}", gzipped(frame.iloc[:10]))
        put(target, f"{folder}/part-1{datasets.PART_SUFFIX}", gzipped(frame.iloc[10:, ::-1]))
    known = bench_load.execution_arns(target, "inference")
    put(target, f"{folder}/{settings.folder_datasets.trigger_file}", b"")
    run = started(target, "inference", known)
    assert run.status == "Failed"
    steps = {step.name: step for step in ops.execution_steps(target, run.arn)}
    assert steps[Step.PREPROCESS].status == "Failed"
    # The step fails as SageMaker fails a processing job ("AlgorithmError: See job logs"); the script's message is
    # the job's ExitMessage (what the failed-step email quotes).
    job = steps[Step.PREPROCESS].metadata["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
    reason = target.client("sagemaker").describe_processing_job(ProcessingJobName=job).get("ExitMessage", "")
    if case == "empty":
        assert f"the folder dataset s3://{settings.bucket}/{folder}/ holds no part files" in reason, reason
    else:
        assert "have different headers" in reason and "part-0.csv.gz" in reason and "part-1.csv.gz" in reason
    assert Step.BATCH_TRANSFORM not in steps and Step.PUBLISH_PREDICTIONS not in steps
    published = target.client("s3").list_objects_v2(Bucket=settings.bucket,
                                                     Prefix=f"{settings.prefixes.results}/broken-{case}")
    assert published.get("KeyCount", 0) == 0


def test_labels_of_a_folder_batch_dropped_later_as_a_folder_are_checked_against_all_its_rows(approved_stack):
    _, target = approved_stack
    settings = target.settings
    frame = generate(REFERENCE, 3 * ROWS_PER_PART, seed=2304, id_prefix="labelled")
    trigger = settings.folder_datasets.trigger_file
    batch, labels = (f"{settings.prefixes.inference}/late/batch", f"{settings.prefixes.ground_truth}/late/batch")
    known = bench_load.execution_arns(target, "inference")
    for number in range(3):
        part = frame.iloc[number * ROWS_PER_PART:(number + 1) * ROWS_PER_PART]
        put(target, f"{batch}/part-{number}{datasets.PART_SUFFIX}", gzipped(part.drop(columns=[DEMO_TARGET])))
    put(target, f"{batch}/{trigger}", b"")
    assert started(target, "inference", known).status == "Succeeded"

    known = bench_load.execution_arns(target, "model_quality")
    for number in range(3):
        part = frame.iloc[number * ROWS_PER_PART:(number + 1) * ROWS_PER_PART]
        put(target, f"{labels}/part-{number}{datasets.PART_SUFFIX}", gzipped(part[[DEMO_RECORD_KEY, DEMO_TARGET]]))
    time.sleep(QUIET_SECONDS)
    assert bench_load.execution_arns(target, "model_quality") == known  # label parts alone start nothing either
    put(target, f"{labels}/{trigger}", b"")
    late = started(target, "model_quality", known)
    result = report.step_result(target, late, Step.MODEL_QUALITY_CHECK)
    assert result is not None and result.counts == {"rows": len(frame), "matched": len(frame)}, result


def test_two_processing_instances_check_a_folder_batch_as_one_instance_does(approved_stack):
    """compute.processing_instance_count 1, then 2 (pipelines upserted again; restored at the end): on two, the
    Preprocess and DataQualityCheckShards jobs split the parts over two instances and DataQualityCheck merges the
    shares' profiles into the reports one instance writes for the same batch (60 rows: no sketch compacts, so
    only the moments may differ, by rounding)."""
    _, target = approved_stack
    settings = target.settings
    frame = generate(REFERENCE, 4 * ROWS_PER_PART, seed=2305, id_prefix="scaled").drop(columns=[DEMO_TARGET])
    sagemaker, s3 = target.client("sagemaker"), target.client("s3")
    reports = {}
    try:
        for count in (1, 2):
            compute = settings.compute.model_copy(update={"processing_instance_count": count})
            ops.upsert_pipelines(dataclasses.replace(target, settings=settings.model_copy(update={"compute": compute})))
            folder = f"{settings.prefixes.inference}/scaled-{count}/batch"
            known = bench_load.execution_arns(target, "inference")
            for number in range(4):
                part = frame.iloc[number * ROWS_PER_PART:(number + 1) * ROWS_PER_PART]
                put(target, f"{folder}/part-{number}{datasets.PART_SUFFIX}", gzipped(part))
            put(target, f"{folder}/{settings.folder_datasets.trigger_file}", b"")
            run = started(target, "inference", known)
            assert run.status == "Succeeded", run.failure_reason
            steps = {step.name: step for step in ops.execution_steps(target, run.arn)}
            assert (Step.DATA_QUALITY_CHECK_SHARDS in steps) == (count == 2)
            for name in (Step.PREPROCESS, Step.DATA_QUALITY_CHECK_SHARDS, Step.DATA_QUALITY_CHECK):
                if name in steps:
                    job = steps[name].metadata["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
                    cluster = sagemaker.describe_processing_job(ProcessingJobName=job)["ProcessingResources"]
                    assert cluster["ClusterConfig"]["InstanceCount"] == (
                        1 if name == Step.DATA_QUALITY_CHECK else count), name
            prefix = (f"{settings.prefixes.outputs}/{settings.pipelines.inference_name}/{run.execution_id}/"
                      f"{Step.DATA_QUALITY_CHECK}/{contracts.QUALITY_CHECK_OUTPUT}")
            reports[count] = {name: json.loads(s3.get_object(Bucket=settings.bucket, Key=f"{prefix}/{name}")
                                               ["Body"].read()) for name in ("statistics.json", "constraints.json")}
    finally:
        ops.upsert_pipelines(target)
    assert reports[2]["constraints.json"] == reports[1]["constraints.json"]
    merged, single = reports[2]["statistics.json"], reports[1]["statistics.json"]
    assert merged["dataset"] == single["dataset"] == {"item_count": 4 * ROWS_PER_PART}
    for got, want in zip(merged["features"], single["features"], strict=True):
        got, want = got.get("numerical_statistics", got), want.get("numerical_statistics", want)
        for key in ("mean", "sum", "std_dev"):
            assert math.isclose(got.pop(key, 0.0), want.pop(key, 0.0), rel_tol=1e-12), key
        assert got == want
