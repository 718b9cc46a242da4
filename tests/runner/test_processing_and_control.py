"""Processing, Condition and Fail steps, statuses, logs, failure paths, concurrency and stop."""

from __future__ import annotations

import json
import os

import pytest
from runner_support import RecordingSink, processing_step

from batchops_local.runner import read_step_log, read_step_record

PREPARE = r'''
import argparse, json, os, pathlib, sys
import boto3

base = pathlib.Path(os.environ["SAGEMAKER_BASE_DIR"])
parser = argparse.ArgumentParser()
parser.add_argument("--input-dir")
parser.add_argument("--scale", type=float)
args = parser.parse_args()
files = sorted(str(p.relative_to(args.input_dir)) for p in pathlib.Path(args.input_dir).rglob("*") if p.is_file())
config = json.loads((base / "config" / "processingjobconfig.json").read_text())
single = (base / "processing" / "single" / "one.csv").read_text()
out = base / "processing" / "output"
(out / "nested").mkdir(parents=True)
(out / "nested" / "files.json").write_text(json.dumps(files))
(out / "metrics.json").write_text(json.dumps({"metrics": {"score": {"value": 2 * args.scale}},
                                              "job": config["ProcessingJobName"], "mode": os.environ["MODE"],
                                              "single": single}))
# Scripts using boto3 reach the emulator through the environment the runner sets.
boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key="side/effect.txt", Body=b"from the job")
print("prepared", len(files), "files")
'''

FAIL_WITH_MESSAGE = r'''
import os, pathlib, sys
base = pathlib.Path(os.environ["SAGEMAKER_BASE_DIR"])
(base / "output").mkdir(parents=True, exist_ok=True)
(base / "output" / "message").write_text("input has 3 rows, need at least 10")
print("about to fail")
sys.exit(2)
'''

SLEEP = "import time, sys\ntime.sleep(float(sys.argv[1]))\nprint('slept')\n"


def _prepare_definition(aws, threshold_parameter: bool = True):
    for key in ("data/in/a.csv", "data/in/sub/b.csv", "data/input-other/c.csv"):
        aws.put(key, "x\n1\n")
    aws.put("single/one.csv", "only-object")
    code = aws.put_script("prepare.py", PREPARE)
    prepare = processing_step(
        "Prepare", code,
        inputs=[("data", aws.uri("data/in"), "/opt/ml/processing/input/data"),
                ("single", aws.uri("single/one.csv"), "/opt/ml/processing/single")],
        outputs=[("result", {"Std:Join": {"On": "/", "Values": [
            f"s3://{aws.bucket}/runs", {"Get": "Execution.PipelineExecutionId"}, "Prepare", "result"]}},
            "/opt/ml/processing/output")],
        arguments=["--input-dir", "/opt/ml/processing/input/data",
                   "--scale", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Scale"}]}}],
        environment={"MODE": {"Get": "Parameters.Mode"}, "BUCKET": aws.bucket},
        PropertyFiles=[{"PropertyFileName": "Metrics", "OutputName": "result", "FilePath": "metrics.json"}],
    )
    check = {  # the SDK's shape: branches inside Arguments
        "Name": "Check", "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "LessThanOrEqualTo", "LeftValue": {"Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Prepare.PropertyFiles.Metrics"}, "Path": "metrics.score.value"}},
                "RightValue": {"Get": "Parameters.Threshold"}}],
            "IfSteps": [processing_step("Pass", aws.put_script("sleep.py", SLEEP), arguments=["0"])],
            "ElseSteps": [{"Name": "TooHigh", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
                "On": " ", "Values": ["score above", {"Get": "Parameters.Threshold"}]}}}}],
        },
    }
    parameters = [{"Name": "Scale", "Type": "Float", "DefaultValue": 1.0},
                  {"Name": "Mode", "Type": "String", "DefaultValue": "default"},
                  {"Name": "Threshold", "Type": "Float", "DefaultValue": 3.0}]
    return [prepare, check], parameters


def test_processing_stages_inputs_runs_the_script_and_uploads_outputs(runner, aws):
    steps, parameters = _prepare_definition(aws)
    sink, request = runner.run(steps, parameters=parameters, given={"Mode": "given"})
    assert sink.final == ("Succeeded", None)
    assert sink.executions[0] == ("Executing", None)
    assert sink.statuses("Prepare") == ["Starting", "Executing", "Succeeded"]
    assert sink.ran() == ["Prepare", "Check", "Pass"]
    assert sink.last("Check")["metadata"] == {"Condition": {"Outcome": "True"}}
    assert sink.last("Prepare")["metadata"]["ProcessingJob"]["Arn"].startswith(
        "arn:aws:sagemaker:us-east-1:123456789012:processing-job/")

    prefix = f"runs/{request.execution_id}/Prepare/result"
    assert aws.keys(prefix) == [f"{prefix}/metrics.json", f"{prefix}/nested/files.json"]
    # Key-prefix match, paths relative to the prefix; 'data/in' also matches 'data/input-other/...', which keeps
    # its whole directory name.
    assert json.loads(aws.get(f"{prefix}/nested/files.json")) == ["a.csv", "input-other/c.csv", "sub/b.csv"]
    metrics = json.loads(aws.get(f"{prefix}/metrics.json"))
    assert metrics["mode"] == "given" and metrics["single"] == "only-object"
    assert metrics["metrics"]["score"]["value"] == 2.0
    assert metrics["job"].startswith(request.execution_id)
    assert aws.get("side/effect.txt") == "from the job"

    log = read_step_log(runner.home, request.execution_id, "Prepare")
    assert "prepared 3 files" in log
    record = read_step_record(runner.home, request.execution_id, "Prepare")
    assert record["StepStatus"] == "Succeeded" and record["Properties"]["ProcessingJobName"] == metrics["job"]


def test_condition_takes_the_else_branch_and_the_fail_step_fails_the_execution(runner, aws):
    steps, parameters = _prepare_definition(aws)
    sink, _ = runner.run(steps, parameters=parameters, given={"Scale": "2", "Threshold": "3.5"})
    assert sink.ran() == ["Prepare", "Check", "TooHigh"]
    assert sink.last("Check")["metadata"] == {"Condition": {"Outcome": "False"}}
    assert sink.last("TooHigh")["status"] == "Failed"
    assert sink.last("TooHigh")["metadata"] == {"Fail": {"ErrorMessage": "score above 3.5"}}
    assert sink.final == ("Failed", "score above 3.5")


def test_a_failing_script_reports_its_message_and_stops_the_pipeline(runner, aws):
    code = aws.put_script("fail.py", FAIL_WITH_MESSAGE)
    steps = [processing_step("Validate", code),
             processing_step("After", aws.put_script("sleep.py", SLEEP), arguments=["0"], DependsOn=["Validate"])]
    sink, request = runner.run(steps)
    assert sink.last("Validate")["status"] == "Failed"
    # SageMaker's reason for a container that exits non-zero; the script's message is the job's ExitMessage
    # (tests/emulator/test_processing_jobs.py) and is in the step log.
    assert sink.last("Validate")["reason"] == "AlgorithmError: See job logs for more information"
    assert "After" not in sink.ran()
    assert sink.final == ("Failed", "Step 'Validate' failed: AlgorithmError: See job logs for more information")
    log = read_step_log(runner.home, request.execution_id, "Validate")
    assert "about to fail" in log and "exit code 2" in log
    assert "its exit message: input has 3 rows, need at least 10" in log


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda s: s["Arguments"]["AppSpecification"].update(ImageUri="123.dkr.ecr.us-east-1.amazonaws.com/custom:1"),
     "image '123.dkr.ecr.us-east-1.amazonaws.com/custom:1' has no local implementation"),
    (lambda s: s.update(Type="EMR"), "step type 'EMR' has no local implementation"),
    (lambda s: s["Arguments"]["ProcessingInputs"][0]["S3Input"].update(S3Uri="s3://{bucket}/nothing/here"),
     "ProcessingInputs 'code': no S3 objects found under s3://{bucket}/nothing/here"),
])
def test_unsupported_or_broken_steps_fail_with_a_clear_reason(runner, aws, mutate, reason):
    step = processing_step("Odd", aws.put_script("sleep.py", SLEEP), arguments=["0"])
    mutate(step)
    if "{bucket}" in json.dumps(step):
        step = json.loads(json.dumps(step).replace("{bucket}", aws.bucket))
    sink, _ = runner.run([step])
    assert sink.final[0] == "Failed"
    assert reason.format(bucket=aws.bucket) in sink.last("Odd")["reason"]


def test_bad_start_parameters_fail_the_execution_before_any_step(runner, aws):
    steps = [processing_step("Only", aws.put_script("sleep.py", SLEEP), arguments=["0"])]
    sink, _ = runner.run(steps, parameters=[{"Name": "Rounds", "Type": "Integer", "DefaultValue": 1}],
                         given={"Rounds": "many", "Other": "x"})
    assert sink.steps == []
    assert sink.final[0] == "Failed" and "Other not declared" in sink.final[1]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="concurrency needs at least two cores")
def test_independent_steps_run_concurrently(runner, aws):
    code = aws.put_script("sleep.py", SLEEP)
    steps = [processing_step("Left", code, arguments=["1.5"]), processing_step("Right", code, arguments=["1.5"])]
    sink, _ = runner.run(steps)
    assert sink.final == ("Succeeded", None)
    left, right = sink.last("Left"), sink.last("Right")
    assert left["start"] < right["end"] and right["start"] < left["end"]


def test_stop_request_stops_the_running_job_and_the_execution(runner, aws):
    code = aws.put_script("sleep.py", SLEEP)
    steps = [processing_step("Long", code, arguments=["30"]),
             processing_step("Later", code, arguments=["0"], DependsOn=["Long"])]
    sink, _ = runner.run(steps, sink=RecordingSink(stop_when_executing="Long"))
    assert sink.statuses("Long") == ["Starting", "Executing", "Stopping", "Stopped"]
    assert "Later" not in sink.ran()
    assert sink.final == ("Stopped", None)
    assert (sink.last("Long")["end"] - sink.last("Long")["start"]).total_seconds() < 10
