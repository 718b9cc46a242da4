"""Training, tuning, Model, RegisterModel and Transform steps with the built-in XGBoost semantics."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from runner_support import ROLE, XGBOOST_IMAGE, host_booster, regression_csv, training_arguments

from batchops_local.runner import read_step_log, runtimes
from batchops_local.runner.steps.training import final_metrics, objective_regex

HYPERPARAMETERS = {"objective": "reg:squarederror", "eval_metric": "rmse", "num_round": "15", "max_depth": "3",
                   "eta": "0.3"}


def _put_training_data(aws) -> tuple[str, str]:
    train, _ = regression_csv(300, seed=1)
    validation, _ = regression_csv(100, seed=2)
    return aws.put("ml/train/part-0.csv", train), aws.put("ml/validation/part-0.csv", validation)


def _training_step(aws, name="Train", hyperparameters=None):
    train, validation = _put_training_data(aws)
    return {"Name": name, "Type": "Training", "Arguments": {
        **training_arguments(train, validation, aws.uri("ml/models")),
        "HyperParameters": hyperparameters or {**HYPERPARAMETERS,
                                               "num_round": {"Std:Join": {"On": "", "Values": [
                                                   {"Get": "Parameters.Rounds"}]}}}}}


def _model_archive(aws, key: str) -> xgb.Booster:
    data = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
        raw = tar.extractfile("xgboost-model").read()
    assert raw.startswith(b"binf")  # sagemaker-xgboost 1.7-1 saves with xgboost 1.7.4's save_model: legacy binary
    return host_booster(raw)


def test_metric_parsing_matches_tab_and_cloudwatch_separators():
    log = "[0]\ttrain-rmse:3.1\tvalidation-rmse:3.3\n[1]#011train-rmse:2.00000#011validation-rmse:2.50000\nend\n"
    assert final_metrics(log) == {"train:rmse": 2.0, "validation:rmse": 2.5}
    assert objective_regex("validation:rmse").findall(log) == ["3.3", "2.50000"]


def test_training_runs_the_algorithm_and_writes_model_tar_at_the_sagemaker_path(runner, aws):
    parameters = [{"Name": "Rounds", "Type": "Integer", "DefaultValue": 15}]
    sink, request = runner.run([_training_step(aws)], parameters=parameters, given={"Rounds": "12"})
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    arn = sink.last("Train")["metadata"]["TrainingJob"]["Arn"]
    job = arn.rsplit("/", 1)[-1]
    assert aws.keys("ml/models") == [f"ml/models/{job}/output/model.tar.gz"]
    booster = _model_archive(aws, f"ml/models/{job}/output/model.tar.gz")
    assert booster.num_boosted_rounds() == 12
    log = read_step_log(runner.home, request.execution_id, "Train")
    rounds = [line for line in log.splitlines() if re.match(r"\[[0-9]+\]", line)]
    assert len(rounds) == 12 and rounds[0].startswith("[0]\ttrain-rmse:") and "\tvalidation-rmse:" in rounds[0]
    assert float(rounds[-1].rsplit("validation-rmse:", 1)[1]) < 0.5  # it actually learned the linear target


def test_training_failures_report_the_algorithm_error(runner, aws):
    step = _training_step(aws, hyperparameters={**HYPERPARAMETERS, "num_round": "0"})
    sink, _ = runner.run([step])
    assert sink.final[0] == "Failed"
    assert sink.last("Train")["reason"] == "AlgorithmError: num_round must be at least 1, found 0"


def test_training_rejects_a_header_row_clearly(runner, aws):
    step = _training_step(aws)
    aws.put("ml/train/part-0.csv", "label,a,b,c\n1,2,3,4\n")
    sink, _ = runner.run([step], parameters=[{"Name": "Rounds", "Type": "Integer", "DefaultValue": 3}])
    assert "channel 'train': file 'part-0.csv' is not numeric CSV without a header" in sink.last("Train")["reason"]


def _tuning_step(aws, strategy: str, max_jobs: int, parallel: int, ranges: dict):
    train, validation = _put_training_data(aws)
    definition = training_arguments(train, validation, aws.uri("ml/tuning"))
    definition["StaticHyperParameters"] = {k: v for k, v in HYPERPARAMETERS.items() if k not in ranges_names(ranges)}
    return {"Name": "Tune", "Type": "Tuning", "Arguments": {
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "TrainingJobEarlyStoppingType": "Off",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
            "ParameterRanges": ranges},
        "TrainingJobDefinition": definition}}


def ranges_names(ranges: dict) -> set[str]:
    return {entry["Name"] for entries in ranges.values() for entry in entries}


@pytest.mark.slow
def test_tuning_runs_grid_jobs_and_orders_summaries_best_first(runner, aws):
    ranges = {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "2",
                                          "ScalingType": "Auto"}],
              "CategoricalParameterRanges": [{"Name": "eta", "Values": ["0.05", "0.5"]}]}
    tune = _tuning_step(aws, "Grid", 4, 2, ranges)
    pick = {"Name": "UseBest", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {"On": "/", "Values": [
        "s3:/", aws.bucket, "ml/tuning", {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"},
        "output/model.tar.gz"]}}}}
    sink, request = runner.run([tune, pick])
    assert sink.last("Tune")["status"] == "Succeeded", sink.last("Tune")["reason"]
    from batchops_local.runner import read_step_record
    record = read_step_record(runner.home, request.execution_id, "Tune")
    summaries = record["Properties"]["TrainingJobSummaries"]
    assert len(summaries) == 4
    assert sorted((s["TunedHyperParameters"]["max_depth"], s["TunedHyperParameters"]["eta"]) for s in summaries) == \
        [("1", "0.05"), ("1", "0.5"), ("2", "0.05"), ("2", "0.5")]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values == sorted(values)
    assert record["Properties"]["BestTrainingJob"]["TrainingJobName"] == summaries[0]["TrainingJobName"]
    # The best job's name feeds the top-model URI, and that model exists.
    best_uri = sink.final[1]
    assert best_uri == f"s3://{aws.bucket}/ml/tuning/{summaries[0]['TrainingJobName']}/output/model.tar.gz"
    assert f"ml/tuning/{summaries[0]['TrainingJobName']}/output/model.tar.gz" in aws.keys("ml/tuning")
    assert sink.last("Tune")["metadata"]["TuningJob"]["Arn"].split("/")[-1] == \
        record["Properties"]["HyperParameterTuningJobName"].lower()


@pytest.mark.slow
def test_random_tuning_draws_within_ranges_and_bayesian_runs_as_random(runner, aws):
    ranges = {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5",
                                             "ScalingType": "Logarithmic"}],
              "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "4",
                                          "ScalingType": "Linear"}]}
    sink, request = runner.run([_tuning_step(aws, "Bayesian", 3, 3, ranges)])
    assert sink.final == ("Succeeded", None)
    from batchops_local.runner import read_step_record
    summaries = read_step_record(runner.home, request.execution_id, "Tune")["Properties"]["TrainingJobSummaries"]
    assert len(summaries) == 3
    for summary in summaries:
        tuned = summary["TunedHyperParameters"]
        assert 0.01 <= float(tuned["eta"]) <= 0.5 and tuned["max_depth"] in ("2", "3", "4")
    assert "strategy Bayesian runs as Random search locally" in read_step_log(runner.home, request.execution_id,
                                                                              "Tune")


def test_grid_tuning_rejects_continuous_ranges(runner, aws):
    ranges = {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.3"}]}
    sink, _ = runner.run([_tuning_step(aws, "Grid", 2, 1, ranges)])
    assert "Grid search cannot enumerate continuous range 'eta'" in sink.last("Tune")["reason"]


@pytest.mark.parametrize(("strategy", "max_jobs", "parallel", "reason"), [
    ("Bayesian", 751, 1, "MaxNumberOfTrainingJobs 751 is above the 750 a Bayesian tuning job may run"),
    ("Random", 10_001, 1, "MaxNumberOfTrainingJobs 10001 is above the 10000 a Random tuning job may run"),
    ("Random", 2, 101, "MaxParallelTrainingJobs 101 is above the 100 a tuning job may run at once"),
])
def test_tuning_above_sagemakers_resource_limits_fails_before_any_training_job(runner, aws, strategy, max_jobs,
                                                                               parallel, reason):
    ranges = {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "2"}]}
    sink, request = runner.run([_tuning_step(aws, strategy, max_jobs, parallel, ranges)])
    assert sink.last("Tune")["status"] == "Failed"
    assert reason in sink.last("Tune")["reason"] and "automatic-model-tuning-limits" in sink.last("Tune")["reason"]
    assert not aws.keys("ml/tuning")


# ------------------------------------------------------------------------------------------- model + transform


# Trains like the image does and saves the booster as the container's `xgboost-model`.
_TRAIN_IN_IMAGE = ("import sys, numpy as np, xgboost as xgb; d = np.loadtxt(sys.argv[1] + '/train.csv', "
                   "delimiter=','); b = xgb.train({'objective': 'reg:squarederror', 'max_depth': 3}, "
                   "xgb.DMatrix(d[:, 1:], label=d[:, 0]), 20); "
                   "open(sys.argv[1] + '/xgboost-model', 'wb').write(bytes(b.save_raw('ubj')))")


def _trained_model(aws, key="models/m1/model.tar.gz") -> tuple[str, xgb.Booster]:
    """A model written by the serving image's own xgboost (1.7.4 for sagemaker-xgboost:1.7-1), as on AWS where the
    training image writes what the serving image loads (a host xgboost 3.x model loses its base_score in 1.7.4).
    The host loads it too (newer xgboost reads older models) for the expected predictions."""
    train, _ = regression_csv(400, seed=3)
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "train.csv").write_text(train, encoding="utf-8")
        subprocess.run([runtimes.interpreter_for(XGBOOST_IMAGE, what="test model"), "-c", _TRAIN_IN_IMAGE, scratch],
                       check=True)
        raw = (Path(scratch) / "xgboost-model").read_bytes()
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return aws.put(key, buffer.getvalue()), booster


def _model_step(model_url, image=XGBOOST_IMAGE):
    return {"Name": "CreateModel", "Type": "Model", "Arguments": {
        "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": image, "Environment": {}, "ModelDataUrl": model_url}}}


def _transform_step(aws, input_uri, *, input_filter="$[1:]", output_filter=None, join="Input"):
    processing = {"InputFilter": input_filter, "JoinSource": join}
    if output_filter:
        processing["OutputFilter"] = output_filter
    return {"Name": "Score", "Type": "Transform", "Arguments": {
        "ModelName": {"Get": "Steps.CreateModel.ModelName"},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": aws.uri("scored"), "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        "DataProcessing": processing}}


def _batch(rows: int, seed: int) -> tuple[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 3))
    ids = [f"id-{seed}-{i}" for i in range(rows)]
    text = "\n".join(f"{ids[i]},{x[i, 0]:.6f},{x[i, 1]:.6f},{x[i, 2]:.6f}" for i in range(rows)) + "\n"
    return text, x


def test_model_and_transform_join_predictions_to_input_per_object(runner, aws):
    model_url, booster = _trained_model(aws)
    first, x1 = _batch(50, 1)
    second, x2 = _batch(30, 2)
    aws.put("batch/day1/a.csv", first)
    aws.put("batch/day2/b.csv", second)
    sink, _ = runner.run([_model_step(model_url), _transform_step(aws, aws.uri("batch/"))])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    assert sink.last("CreateModel")["metadata"]["Model"]["Arn"].startswith("arn:aws:sagemaker:us-east-1:")
    assert sink.last("Score")["metadata"]["TransformJob"]["Arn"].startswith("arn:aws:sagemaker:us-east-1:")
    assert aws.keys("scored") == ["scored/day1/a.csv.out", "scored/day2/b.csv.out"]
    lines = aws.get("scored/day1/a.csv.out").splitlines()
    assert len(lines) == 50
    assert lines[0].startswith(first.splitlines()[0] + ",")
    predictions = np.array([float(line.rsplit(",", 1)[1]) for line in lines])
    expected = booster.inplace_predict(x1.round(6).astype(np.float32))
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)
    # The container prints each prediction as a Python float.
    assert lines[0].rsplit(",", 1)[1] == repr(float(np.float32(expected[0])))


def test_output_filter_keeps_the_record_key_and_the_prediction(runner, aws):
    model_url, _ = _trained_model(aws)
    text, _ = _batch(10, 4)
    aws.put("single/batch.csv", text)
    step = _transform_step(aws, aws.uri("single/batch.csv"), output_filter="$[0,-1]")
    sink, _ = runner.run([_model_step(model_url), step])
    assert sink.final == ("Succeeded", None)
    lines = aws.get("scored/batch.csv.out").splitlines()
    assert [line.split(",")[0] for line in lines] == [row.split(",")[0] for row in text.splitlines()]
    assert all(len(line.split(",")) == 2 for line in lines)


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda t: t["Arguments"]["DataProcessing"].update(InputFilter="$.features"),
     "unsupported CSV filter '$.features'"),
    (lambda t: t["Arguments"]["TransformOutput"].update(Accept="application/json"),
     "Accept 'application/json' is not supported locally"),
    (lambda t: t["Arguments"]["DataProcessing"].update(InputFilter="$"),
     "input object(s) failed"),  # the record key column is not numeric
])
def test_transform_failures_are_clear_and_write_nothing(runner, aws, mutate, reason):
    model_url, _ = _trained_model(aws)
    aws.put("bad/batch.csv", _batch(5, 5)[0])
    step = _transform_step(aws, aws.uri("bad/"))
    mutate(step)
    sink, _ = runner.run([_model_step(model_url), step])
    assert sink.final[0] == "Failed"
    assert reason in sink.last("Score")["reason"]
    assert aws.keys("scored") == []


def test_transform_refuses_a_model_with_an_unknown_image(runner, aws):
    model_url, _ = _trained_model(aws)
    aws.put("batch/x.csv", _batch(3, 6)[0])
    sink, _ = runner.run([_model_step(model_url, image="123.dkr.ecr.us-east-1.amazonaws.com/my-server:2"),
                          _transform_step(aws, aws.uri("batch/"))])
    assert "image '123.dkr.ecr.us-east-1.amazonaws.com/my-server:2' has no local implementation" in \
        sink.last("Score")["reason"]


def test_register_model_creates_a_versioned_package_with_metrics_and_baselines(runner, aws):
    sagemaker = aws.client("sagemaker")
    group = f"group-{aws.bucket[-8:]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    model_url, _ = _trained_model(aws)
    register = {"Name": "RegisterModel", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": group,
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                          "S3Uri": aws.uri("eval/evaluation.json")}},
                         "Bias": {}, "Explainability": {}},
        "DriftCheckBaselines": {"ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": aws.uri("dq/statistics.json")},
            "Constraints": {"ContentType": "application/json", "S3Uri": aws.uri("dq/constraints.json")}}},
        "InferenceSpecification": {"Containers": [{"Image": XGBOOST_IMAGE, "Environment": {},
                                                   "ModelDataUrl": model_url}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "CustomerMetadataProperties": {"PreprocessingArtefact": aws.uri("prep/preprocessing.json")},
        "ModelApprovalStatus": {"Get": "Parameters.Approval"},
        "SkipModelValidation": "None"}}
    parameters = [{"Name": "Approval", "Type": "String", "DefaultValue": "PendingManualApproval"}]
    sink, request = runner.run([register], parameters=parameters)
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    arn = sink.last("RegisterModel")["metadata"]["RegisterModel"]["Arn"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert arn.endswith(f"model-package/{group}/1")
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"] == {"PreprocessingArtefact": aws.uri("prep/preprocessing.json")}
    assert package["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"] == aws.uri("dq/statistics.json")
    assert package["MetadataProperties"]["GeneratedBy"] == request.execution_arn
