"""Script-mode training in a framework image (batchops_local.runner.training_toolkit): the user's source directory
from S3, hyperparameters as arguments and SM_* variables, requirements.txt, MetricDefinitions, model.tar.gz,
and a failed script reported the way SageMaker reports it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile

import pytest
from runner_support import SKLEARN_IMAGE, regression_csv, training_arguments

from batchops_local.runner import read_step_log, read_step_record, training_toolkit

TRAIN = r'''
import argparse, json, os, pathlib, sys
import joblib
import numpy as np
from sklearn.ensemble import RandomForestRegressor

parser = argparse.ArgumentParser()
parser.add_argument("--n_estimators", type=int)
parser.add_argument("--max_depth", type=int)
parser.add_argument("--criterion")
args = parser.parse_args()

def load(channel):
    data = np.loadtxt(pathlib.Path(os.environ["SM_CHANNEL_" + channel.upper()]) / "part-0.csv", delimiter=",")
    return data[:, 1:], data[:, 0]

x, y = load("train")
model = RandomForestRegressor(n_estimators=args.n_estimators, max_depth=args.max_depth, criterion=args.criterion,
                              random_state=0).fit(x, y)
vx, vy = load("validation")
rmse = float(np.sqrt(np.mean((model.predict(vx) - vy) ** 2)))
print("validation rmse=%.6f" % rmse)
joblib.dump(model, "/opt/ml/model/model.joblib")  # the container's path, written literally
pathlib.Path(os.environ["SM_OUTPUT_DATA_DIR"], "seen.json").write_text(json.dumps({
    "hps": json.loads(os.environ["SM_HPS"]), "channels": json.loads(os.environ["SM_CHANNELS"]),
    "user_args": json.loads(os.environ["SM_USER_ARGS"]), "module_name": os.environ["SM_MODULE_NAME"],
    "model_dir": os.environ["SM_MODEL_DIR"], "helper": __import__("helper").VALUE, "rmse": rmse,
}))
'''

FAILS = r'''
import sys
print("reading the data")
columns = ["a", "b"]
if "target" not in columns:
    raise ValueError("column 'target' is missing from the training data")
'''

USES_REQUIREMENT = "import batchops_tiny_dependency\nprint('dependency says', batchops_tiny_dependency.ANSWER)\n"


def _source_archive(files: dict[str, str | bytes]) -> bytes:
    """sourcedir.tar.gz as the SageMaker SDK uploads a source directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tiny_wheel() -> tuple[str, bytes]:
    """A pure-Python wheel, so requirements.txt installs without a package index."""
    name, version = "batchops_tiny_dependency", "1.0"
    files = {f"{name}.py": b"ANSWER = 42\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                                     .encode(),
             f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                  b"Tag: py3-none-any\n"}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
        wheel.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


def _script_step(aws, files: dict[str, str | bytes], program: str, hyperparameters: dict[str, object],
                 metric_definitions: list[dict[str, str]] | None = None) -> dict:
    train, _ = regression_csv(200, seed=1)
    validation, _ = regression_csv(80, seed=2)
    source = aws.put("code/job/source/sourcedir.tar.gz", _source_archive(files))
    arguments = training_arguments(aws.put("ml/train/part-0.csv", train), aws.put("ml/validation/part-0.csv",
                                                                                  validation), aws.uri("ml/models"))
    arguments["AlgorithmSpecification"]["TrainingImage"] = SKLEARN_IMAGE
    if metric_definitions:
        arguments["AlgorithmSpecification"]["MetricDefinitions"] = metric_definitions
    # The SDK JSON-encodes every framework hyperparameter value.
    arguments["HyperParameters"] = {key: json.dumps(value) for key, value in {
        **hyperparameters, "sagemaker_program": program, "sagemaker_submit_directory": source,
        "sagemaker_container_log_level": 20, "sagemaker_region": "us-east-1"}.items()}
    return {"Name": "Train", "Type": "Training", "Arguments": arguments}


def test_a_scikit_learn_script_trains_with_the_toolkit_contract(runner, aws):
    step = _script_step(aws, {"train.py": TRAIN, "helper.py": "VALUE = 'from the source directory'\n"},
                        "train.py", {"n_estimators": 20, "max_depth": 4, "criterion": "squared_error"},
                        [{"Name": "validation:rmse", "Regex": r"validation rmse=([0-9.]+)"}])
    sink, request = runner.run([step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Train")

    properties = read_step_record(runner.home, request.execution_id, "Train")["Properties"]
    job = properties["TrainingJobName"]
    with tarfile.open(fileobj=io.BytesIO(aws.s3.get_object(Bucket=aws.bucket, Key=f"ml/models/{job}/output/"
                                                           "model.tar.gz")["Body"].read()), mode="r:gz") as tar:
        assert tar.getnames() == ["model.joblib"]
    with tarfile.open(fileobj=io.BytesIO(aws.s3.get_object(Bucket=aws.bucket, Key=f"ml/models/{job}/output/"
                                                           "output.tar.gz")["Body"].read()), mode="r:gz") as tar:
        seen = json.loads(tar.extractfile("seen.json").read())
    assert seen["hps"] == {"n_estimators": 20, "max_depth": 4, "criterion": "squared_error"}
    assert seen["user_args"] == ["--criterion", "squared_error", "--max_depth", "4", "--n_estimators", "20"]
    assert seen["channels"] == ["train", "validation"] and seen["module_name"] == "train"
    assert seen["helper"] == "from the source directory" and seen["model_dir"].endswith("/model")
    # FinalMetricDataList: the last value the job's MetricDefinitions regex matched in its log.
    metrics = {item["MetricName"]: item["Value"] for item in properties["FinalMetricDataList"]}
    assert metrics == {"validation:rmse": pytest.approx(seen["rmse"], abs=1e-6)}


def test_a_failing_script_fails_the_job_with_the_error_part_of_its_output(runner, aws):
    sink, request = runner.run([_script_step(aws, {"train.py": FAILS}, "train.py", {"epochs": 3})])
    status, reason = sink.final
    assert status == "Failed"
    record = read_step_record(runner.home, request.execution_id, "Train")
    failure = record["FailureReason"]
    # As the toolkit cuts it: from the first stderr line naming a Python error (here the traceback's source line).
    assert failure.startswith('AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage "raise ValueError('
                              "\"column 'target' is missing from the training data\")\nValueError: column 'target' "
                              "is missing from the training data\"\nCommand \""), failure
    assert failure.rstrip('"').endswith("train.py --epochs 3") and "reading the data" not in failure
    assert len(failure) <= 1024


def test_requirements_of_the_source_directory_are_installed_for_the_job_only(runner, aws):
    wheel_name, wheel = _tiny_wheel()
    files = {"train.py": USES_REQUIREMENT, "requirements.txt": f"./{wheel_name}\n", wheel_name: wheel}
    sink, request = runner.run([_script_step(aws, files, "train.py", {})])
    log = read_step_log(runner.home, request.execution_id, "Train")
    assert sink.final == ("Succeeded", None), log
    assert "dependency says 42" in log


def test_a_missing_entry_point_is_a_framework_error_naming_it(runner, aws):
    sink, request = runner.run([_script_step(aws, {"other.py": "print(1)\n"}, "train.py", {})])
    assert sink.final[0] == "Failed"
    failure = read_step_record(runner.home, request.execution_id, "Train")["FailureReason"]
    assert failure.startswith("AlgorithmError: Framework Error:") and "entry point train.py" in failure


def test_the_toolkit_mappings():
    assert training_toolkit.decode_hyperparameters({"a": "3", "b": '"text"', "c": "plain", "d": '{"x": 1}'}) == {
        "a": 3, "b": "text", "c": "plain", "d": {"x": 1}}
    assert training_toolkit.to_cmd_args({"lr": 0.1, "k": 3, "opts": {"b": 2, "a": 1}}) == [
        "-k", "3", "--lr", "0.1", "--opts", "a=1,b=2"]
    env = training_toolkit.training_environment(
        "/opt/ml", {"sagemaker_program": "fit.py", "sagemaker_mpi_enabled": False, "lr": 0.1},
        {"current_host": "algo-1", "hosts": ["algo-1"]}, {"train": {"ContentType": "text/csv"}})
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train" and env["SM_HP_LR"] == "0.1"
    assert env["SM_HPS"] == '{"lr":0.1}' and env["SM_FRAMEWORK_PARAMS"] == '{"sagemaker_mpi_enabled":false}'
    assert env["SM_MODULE_NAME"] == "fit" and env["SM_USER_ENTRY_POINT"] == "fit.py"
    assert json.loads(env["SM_TRAINING_ENV"])["hps"] == {"lr": 0.1}


def _script_tuning_step(aws, objective: str) -> dict:
    training = _script_step(aws, {"train.py": TRAIN, "helper.py": "VALUE = 1\n"}, "train.py",
                            {"max_depth": 3, "criterion": "squared_error"},
                            [{"Name": "validation:rmse", "Regex": r"validation rmse=([0-9.]+)"}])["Arguments"]
    training["StaticHyperParameters"] = training.pop("HyperParameters")
    return {"Name": "Tune", "Type": "Tuning", "Arguments": {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Grid", "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "TrainingJobEarlyStoppingType": "Off",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": objective},
            "ParameterRanges": {"CategoricalParameterRanges": [{"Name": "n_estimators", "Values": ["1", "30"]}]}},
        "TrainingJobDefinition": training}}


def test_tuning_a_script_reads_the_objective_with_its_metric_definition(runner, aws):
    sink, request = runner.run([_script_tuning_step(aws, "validation:rmse")])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Tune")
    summaries = read_step_record(runner.home, request.execution_id, "Tune")["Properties"]["TrainingJobSummaries"]
    values = {s["TunedHyperParameters"]["n_estimators"]: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
              for s in summaries}
    assert set(values) == {"1", "30"} and all(value > 0 for value in values.values())
    assert summaries[0]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values.values())


def test_tuning_a_script_on_a_metric_it_does_not_define_fails_naming_it(runner, aws):
    sink, request = runner.run([_script_tuning_step(aws, "validation:auc")])
    assert sink.final[0] == "Failed"
    reason = read_step_record(runner.home, request.execution_id, "Tune")["FailureReason"]
    assert "objective metric 'validation:auc' is not defined" in reason and "validation:rmse" in reason
