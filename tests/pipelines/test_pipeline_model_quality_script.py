"""model_quality.py: join by record key, pass / fail / no ground truth / key mismatch, labelled feedback, result.json.

The step succeeds whenever it could evaluate: a violation is outcome `failed` in result.json (the pipeline's
CheckModelQuality step fails the execution), never a failed job."""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pytest
from step_script_support import (
    BUCKET,
    OTHER_FEATURES,
    OTHER_SCHEMA,
    REGION,
    SCRIPTS_DIR,
    Job,
    other_rows,
    read_csv,
    write_rows,
)

from batchops_core import contracts

BATCH_KEY = "data/inference/day1/batch.csv"
TRUTH_KEY = "data/ground-truth/day1/batch.csv"
COLUMNS = [c["name"] for c in OTHER_SCHEMA["columns"]]


@pytest.fixture
def rows() -> list[dict[str, str]]:
    return other_rows(20, first_key=100)


def put_truth(s3, rows: list[dict[str, str]], key: str = TRUTH_KEY) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["order_id", "delivery_minutes"])
    writer.writerows([[r["order_id"], r["delivery_minutes"]] for r in reversed(rows)])  # other order than scored
    s3.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue().encode())


def scored_job(tmp_path, rows: list[dict[str, str]], error: float) -> Job:
    job = Job(tmp_path / "job", OTHER_SCHEMA)
    write_rows(job.input("data") / "day1" / "batch.csv", rows, ["order_id", *OTHER_FEATURES])
    lines = [f"{r['order_id']},{float(r['delivery_minutes']) + error}" for r in rows]
    predictions = job.input("predictions") / "day1" / "batch.csv.out"
    predictions.parent.mkdir(parents=True)
    predictions.write_text("\n".join(lines) + "\n")
    return job


def run_check(job: Job, monkeypatch, *, metric: str = "rmse", threshold: str = "3.0", key: str = BATCH_KEY):
    """The job as SageMaker starts it: the batch location only in processingjobconfig.json's `data` input."""
    job.configure_inputs(data=f"s3://{BUCKET}/{key}", predictions=f"s3://{BUCKET}/runs/predictions")
    return job.run_in_process(
        "model_quality.py", "--inference-prefix", "data/inference", "--ground-truth-prefix", "data/ground-truth",
        "--metric", metric, "--threshold", threshold, "--region", REGION, monkeypatch=monkeypatch)


def check(job: Job, monkeypatch, *, metric: str = "rmse", threshold: str = "3.0", key: str = BATCH_KEY):
    result = run_check(job, monkeypatch, metric=metric, threshold=threshold, key=key)
    report = json.loads((job.output("report") / "report.json").read_text())
    return result, report


def outcome(job: Job) -> tuple:
    decision = job.result()
    assert decision["step"] == "ModelQualityCheck"
    return decision["outcome"], decision["metric"], decision["value"], decision["threshold"], decision["counts"]


def test_a_good_batch_passes_and_leaves_labelled_feedback(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=1.0)
    result, report = check(job, monkeypatch)
    assert result.returncode == 0 and result.message is None
    assert report["status"] == "passed"
    assert report["value"] == pytest.approx(1.0) and report["rows_matched"] == 20
    assert report["ground_truth"] == f"s3://{BUCKET}/data/ground-truth/day1/batch.csv"
    feedback = read_csv(job.output("feedback") / "feedback.csv")
    assert feedback[0] == COLUMNS  # the training schema, record key included
    assert feedback[1] == [rows[0][c] if c != "delivery_minutes" else format(float(rows[0][c]), ".10g")
                           for c in COLUMNS]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/feedback/")  # uploaded by the platform
    assert outcome(job) == ("passed", "rmse", pytest.approx(1.0), 3.0, {"rows": 20, "matched": 20})
    assert job.result()["comparison"] == "<="


def test_equal_to_the_threshold_passes(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=2.0)
    result, report = check(job, monkeypatch, metric="mae", threshold="2.0")
    assert result.returncode == 0 and report["status"] == "passed"
    assert outcome(job)[:4] == ("passed", "mae", pytest.approx(2.0), 2.0)


def test_a_bad_batch_fails_with_metric_value_threshold_and_rows(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=4.0)
    result, report = check(job, monkeypatch)
    assert result.returncode == 0 and result.message is None  # decided, not broken: the Condition step fails
    assert report["status"] == "failed" and report["value"] == pytest.approx(4.0)
    assert outcome(job) == ("failed", "rmse", pytest.approx(4.0), 3.0, {"rows": 20, "matched": 20})
    assert job.result()["message"].startswith(
        "Model quality violation: rmse 4.0000 fails the gate rmse <= 3.0 on 20 matched rows")
    # The job succeeds, so the platform uploads the labelled batch from the `feedback` output.
    feedback = read_csv(job.output("feedback") / "feedback.csv")
    assert feedback[0] == COLUMNS and len(feedback) == 21


def test_r2_fails_below_its_threshold(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=30.0)
    result, report = check(job, monkeypatch, metric="r2", threshold="0.4")
    assert result.returncode == 0 and report["status"] == "failed"
    assert outcome(job)[0:2] == ("failed", "r2") and job.result()["comparison"] == ">="
    assert "fails the gate r2 >= 0.4" in job.result()["message"]


def test_the_threshold_the_run_used_is_recorded(s3, rows, tmp_path, monkeypatch):
    # ModelQualityThreshold=5 for this run: the same batch that fails at 3.0 passes, and result.json says 5.
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=4.0)
    result, report = check(job, monkeypatch, threshold="5")
    assert result.returncode == 0 and report["threshold"] == 5.0
    assert outcome(job)[:4] == ("passed", "rmse", pytest.approx(4.0), 5.0)


def test_mape_end_to_end_and_zero_labels_refused(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=1.0)
    result, report = check(job, monkeypatch, metric="mape", threshold="0.5")
    assert result.returncode == 0
    labels = [float(r["delivery_minutes"]) for r in rows]
    assert outcome(job)[:2] == ("passed", "mape")
    assert job.result()["value"] == pytest.approx(sum(1.0 / abs(v) for v in labels) / len(labels))
    rows[3]["delivery_minutes"] = "0"
    put_truth(s3, rows)
    job = scored_job(tmp_path / "zero", rows, error=1.0)
    failed = run_check(job, monkeypatch, metric="mape", threshold="0.5")
    assert failed.returncode == 1
    assert failed.message == (f"ground truth under s3://{BUCKET}/data/ground-truth/day1/batch.csv: mape is "
                              "undefined when a label is 0: 1 of 20 labels are 0 (choose another metric, e.g. mae, "
                              "for targets that can be 0)")


def test_missing_ground_truth_is_skipped_waiting_for_it(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows, key="data/ground-truth/day2/batch.csv")
    job = scored_job(tmp_path, rows, error=50.0)
    result, report = check(job, monkeypatch)
    assert result.returncode == 0
    assert report["status"] == "skipped" and report["reason"] == "waiting for ground truth"
    assert not (job.output("feedback") / "feedback.csv").exists()
    assert outcome(job) == ("skipped", "rmse", None, 3.0, {"rows": 20, "matched": 0})
    assert job.result()["message"] == ("model quality waiting for ground truth: labels dropped under "
                                       f"s3://{BUCKET}/{TRUTH_KEY} start its check")
    assert job.result()["details"] == {"waiting_for_ground_truth": True}


def test_keys_are_joined_by_value_and_mismatches_reported(s3, rows, tmp_path, monkeypatch):
    truth = rows[5:] + other_rows(3, seed=99, first_key=900)  # 5 scored rows lack labels, 3 labels lack rows
    put_truth(s3, truth)
    result, report = check(scored_job(tmp_path, rows, error=1.5), monkeypatch)
    assert result.returncode == 0
    assert report["rows_matched"] == 15 and report["value"] == pytest.approx(1.5)
    assert report["unmatched_prediction_count"] == 5
    assert report["unmatched_prediction_keys"] == sorted(r["order_id"] for r in rows[:5])
    assert report["unmatched_ground_truth_keys"] == ["900", "901", "902"]


def test_no_matching_key_at_all_is_skipped_not_failed(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, other_rows(4, first_key=5000))
    job = scored_job(tmp_path, rows, error=9.0)
    result, report = check(job, monkeypatch)
    assert result.returncode == 0 and report["status"] == "skipped"
    assert report["reason"] == "no record key of the ground truth matches a prediction"
    assert outcome(job)[0] == "skipped"


def test_a_batch_outside_the_inference_prefix_is_skipped(s3, rows, tmp_path, monkeypatch):
    job = scored_job(tmp_path, rows, error=9.0)
    result, report = check(job, monkeypatch, key="elsewhere/batch.csv")
    assert result.returncode == 0 and report["status"] == "skipped" and "inference prefix" in report["reason"]
    assert outcome(job)[0] == "skipped"


def test_malformed_predictions_are_a_clear_failure(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=0.0)
    (job.input("predictions") / "day1" / "batch.csv.out").write_text("100,abc\n")
    result = run_check(job, monkeypatch, metric="rmse", threshold="3")
    assert result.returncode == 1  # bad input is an error of the step itself, with no result
    assert result.message == "day1/batch.csv.out line 1: prediction 'abc' is not a number"
    assert not (job.output("result") / "result.json").exists()


def test_a_threshold_outside_the_metric_rule_fails_the_step(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=1.0)
    result = run_check(job, monkeypatch, metric="r2", threshold="1.5")
    assert result.returncode == 1 and result.message == "--threshold: r2 thresholds must be <= 1, found 1.5"


def test_the_batch_location_is_read_from_the_job_config_even_beyond_an_argument_limit(s3, rows, tmp_path,
                                                                                       monkeypatch):
    # A ~600-character key: too long for a CreateProcessingJob container argument (256), fine as an input S3Uri.
    folder = "/".join(["d" * 100] * 6)
    put_truth(s3, rows, key=f"data/ground-truth/{folder}/batch.csv")
    job = scored_job(tmp_path, rows, error=4.0)
    result, report = check(job, monkeypatch, key=f"data/inference/{folder}/batch.csv")
    assert result.returncode == 0 and result.message is None
    assert report["batch"] == f"s3://{BUCKET}/data/inference/{folder}/batch.csv" and len(report["batch"]) > 600
    assert outcome(job) == ("failed", "rmse", pytest.approx(4.0), 3.0, {"rows": 20, "matched": 20})


def test_the_location_is_never_taken_from_arguments(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=1.0)
    with pytest.raises(SystemExit) as exited:  # argparse refuses the old arguments; nothing is decided
        job.run_in_process(
            "model_quality.py", "--input-bucket", BUCKET, "--input-key", BATCH_KEY, "--inference-prefix",
            "data/inference", "--ground-truth-prefix", "data/ground-truth", "--metric", "rmse", "--threshold", "3",
            "--region", REGION, monkeypatch=monkeypatch)
    assert exited.value.code == 2
    assert not (job.output("result") / "result.json").exists()


def test_a_missing_job_config_or_data_input_is_a_clear_failure(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=1.0)
    arguments = ("model_quality.py", "--inference-prefix", "data/inference", "--ground-truth-prefix",
                 "data/ground-truth", "--metric", "rmse", "--threshold", "3", "--region", REGION)
    result = job.run_in_process(*arguments, monkeypatch=monkeypatch, job_config=False)
    config = job.root / "config" / "processingjobconfig.json"
    assert result.returncode == 1 and result.message.startswith(f"the processing job configuration {config} is "
                                                                "missing")
    job.configure_inputs(predictions=f"s3://{BUCKET}/p")
    result = job.run_in_process(*arguments, monkeypatch=monkeypatch)
    assert result.returncode == 1
    assert result.message == f"{config}: no processing input named 'data' (inputs: predictions)"
    job.configure_inputs(data="/not/an/s3/uri")
    result = job.run_in_process(*arguments, monkeypatch=monkeypatch)
    assert result.returncode == 1 and result.message.startswith("the processing input 'data': expected an s3://")


def test_a_metric_on_degenerate_ground_truth_is_never_a_pass(s3, rows, tmp_path, monkeypatch):
    # Issue 17 item 2: r2 on labels that are all the same used to be 1.0 (a pass) for exact predictions.
    for row in rows:
        row["delivery_minutes"] = "30"
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=0.0)
    result, report = check(job, monkeypatch, metric="r2", threshold="0.5")
    assert result.returncode == 0
    assert outcome(job) == ("skipped", "r2", None, 0.5, {"rows": 20, "matched": 20})
    assert report["reason"] == "r2 is undefined when every label is the same: all 20 labels are 30"
    # One matched row: no metric is meaningful on it.
    put_truth(s3, rows[:1])
    job = scored_job(tmp_path / "one", rows, error=0.0)
    result, report = check(job, monkeypatch)
    assert result.returncode == 0 and report["status"] == "skipped"
    assert report["reason"].startswith("1 row(s); a gate metric needs at least 2 (1 matched)")


def test_ground_truth_is_validated_as_data_check_does(s3, rows, tmp_path, monkeypatch):
    rows[2]["delivery_minutes"] = "1e308"
    rows[4]["order_id"] = rows[6]["order_id"]
    put_truth(s3, rows)
    result = run_check(scored_job(tmp_path, rows, error=1.0), monkeypatch)
    assert result.returncode == 1
    assert result.message.startswith(f"ground truth: s3://{BUCKET}/{TRUTH_KEY}:")
    assert "column 'delivery_minutes': '1e308' is too large" in result.message
    assert "column 'order_id': duplicate record key '106'" in result.message


# ---- ground truth that arrives after its batch: the scored run's batch index, the late run

OUTPUTS = f"s3://{BUCKET}/pipeline-runs"
EXECUTION = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/shop-inference/execution/abc123"
PREDICTIONS = f"s3://{BUCKET}/pipeline-runs/shop-inference/abc123/BatchTransform/predictions"


def scored_with_index(job: Job, s3, monkeypatch):
    """A scored run that records its batch index (what the inference pipeline passes)."""
    job.configure_inputs(data=f"s3://{BUCKET}/{BATCH_KEY}", predictions=PREDICTIONS)
    result = job.run_in_process(
        "model_quality.py", "--inference-prefix", "data/inference", "--ground-truth-prefix", "data/ground-truth",
        "--metric", "rmse", "--threshold", "3.0", "--region", REGION, "--outputs", OUTPUTS,
        "--execution-arn", EXECUTION, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.message
    # The transform's output, where the index says it is.
    for path in job.input("predictions").rglob("*.out"):
        key = PREDICTIONS.split(f"{BUCKET}/", 1)[1] + "/" + path.relative_to(job.input("predictions")).as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    write_rows_to_s3(s3, BATCH_KEY, job.input("data") / "day1" / "batch.csv")


def write_rows_to_s3(s3, key: str, path) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def late_check(tmp_path, monkeypatch, truth_key: str = TRUTH_KEY):
    job = Job(tmp_path / "late", OTHER_SCHEMA)
    job.configure_inputs(ground_truth=f"s3://{BUCKET}/{truth_key}")
    result = job.run_in_process(
        "model_quality.py", "--inference-prefix", "data/inference", "--ground-truth-prefix", "data/ground-truth",
        "--metric", "rmse", "--threshold", "3.0", "--region", REGION, "--outputs", OUTPUTS, "--mode", "late",
        monkeypatch=monkeypatch)
    return job, result


def test_the_scored_run_records_where_its_predictions_are(s3, rows, tmp_path, monkeypatch):
    scored_with_index(scored_job(tmp_path, rows, error=1.0), s3, monkeypatch)
    index_key = contracts.batch_index_key("pipeline-runs", "day1/batch.csv")
    index = json.loads(s3.get_object(Bucket=BUCKET, Key=index_key)["Body"].read())
    assert {k: index[k] for k in ("batch", "predictions", "execution_arn")} == {
        "batch": f"s3://{BUCKET}/{BATCH_KEY}", "predictions": PREDICTIONS, "execution_arn": EXECUTION}


def test_late_ground_truth_evaluates_the_stored_predictions(s3, rows, tmp_path, monkeypatch):
    scored_with_index(scored_job(tmp_path / "scored", rows, error=5.0), s3, monkeypatch)
    put_truth(s3, rows)  # after the batch
    job, result = late_check(tmp_path, monkeypatch)
    assert result.returncode == 0, result.message
    assert outcome(job)[:2] == ("failed", "rmse") and job.result()["value"] == pytest.approx(5.0)
    assert job.result()["counts"] == {"rows": 20, "matched": 20}
    report = json.loads((job.output("report") / "report.json").read_text())
    assert report["batch"] == f"s3://{BUCKET}/{BATCH_KEY}" and report["scored_by"] == EXECUTION
    feedback = read_csv(job.output("feedback") / "feedback.csv")
    assert len(feedback) == 21 and feedback[0] == COLUMNS  # header + every labelled row, training schema


def test_late_labels_split_into_files_under_the_batch_path_find_its_index(s3, rows, tmp_path, monkeypatch):
    scored_with_index(scored_job(tmp_path / "scored", rows, error=1.0), s3, monkeypatch)
    put_truth(s3, rows[:10], key=f"{TRUTH_KEY}/part-1.csv")
    put_truth(s3, rows[10:], key=f"{TRUTH_KEY}/part-2.csv")
    job, result = late_check(tmp_path, monkeypatch, truth_key=f"{TRUTH_KEY}/part-2.csv")
    assert result.returncode == 0, result.message
    assert outcome(job)[0] == "passed" and job.result()["counts"]["matched"] == 20


def test_labels_before_their_batch_leave_the_check_to_the_inference_run(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job, result = late_check(tmp_path, monkeypatch)
    assert result.returncode == 0, result.message
    assert outcome(job)[0] == "skipped"
    assert job.result()["message"] == (f"model quality not checked: the batch s3://{BUCKET}/{BATCH_KEY} is not "
                                       "scored yet: its own inference run checks these labels")


def test_labels_the_scored_run_already_saw_are_not_checked_twice(s3, rows, tmp_path, monkeypatch):
    """A model-quality run started by labels dropped before the batch, delayed until after the batch's index."""
    put_truth(s3, rows)
    time.sleep(1.05)  # S3 LastModified has whole seconds: the index is written in a later one
    scored = scored_job(tmp_path / "scored", rows, error=5.0)
    scored_with_index(scored, s3, monkeypatch)
    assert outcome(scored)[0] == "failed"  # the scored run checked these labels itself
    job, result = late_check(tmp_path, monkeypatch)
    assert result.returncode == 0, result.message
    assert outcome(job)[0] == "skipped"  # not a second violation (a second retraining)
    assert job.result()["message"] == (f"model quality not checked again: the labels s3://{BUCKET}/{TRUTH_KEY} were "
                                       f"there when s3://{BUCKET}/{BATCH_KEY} was scored: its inference run "
                                       f"{EXECUTION} checked them")


def test_late_labels_matching_no_prediction_fail_naming_the_batch(s3, rows, tmp_path, monkeypatch):
    scored_with_index(scored_job(tmp_path / "scored", rows, error=1.0), s3, monkeypatch)
    put_truth(s3, other_rows(5, seed=7, first_key=900))
    job, result = late_check(tmp_path, monkeypatch)
    assert result.returncode == 1
    assert result.message == (f"no record key of the ground truth under s3://{BUCKET}/{TRUTH_KEY} matches a "
                              f"prediction of the batch s3://{BUCKET}/{BATCH_KEY} (5 labelled keys, 20 predictions)")


def test_late_ground_truth_outside_its_prefix_is_a_clear_failure(s3, rows, tmp_path, monkeypatch):
    job, result = late_check(tmp_path, monkeypatch, truth_key="elsewhere/batch.csv")
    assert result.returncode == 1
    assert result.message == (f"s3://{BUCKET}/elsewhere/batch.csv is not under the ground-truth prefix "
                              "'data/ground-truth/'")


# ------------------------------------------------------------------------------------------ classification

CLASSIFICATION_SCHEMA = {
    "header": True, "record_key": "order_id", "target": "late", "classes": ["on_time", "late"],
    "columns": [{"name": "order_id", "type": "integer"}, {"name": "distance_km", "type": "float"},
                {"name": "late", "type": "categorical"}],
}
MULTICLASS_SCHEMA = {**CLASSIFICATION_SCHEMA, "classes": ["on_time", "late", "lost"]}


def classification_job(tmp_path, schema: dict, truth: list[str], predictions: list[str]) -> Job:
    job = Job(tmp_path / "job", schema)
    keys = [str(100 + i) for i in range(len(truth))]
    write_rows(job.input("data") / "day1" / "batch.csv",
               [{"order_id": k, "distance_km": str(i)} for i, k in enumerate(keys)], ["order_id", "distance_km"])
    out = job.input("predictions") / "day1" / "batch.csv.out"
    out.parent.mkdir(parents=True)
    out.write_text("".join(f"{k},{p}\n" for k, p in zip(keys, predictions, strict=True)))
    return job


def put_labels(s3, labels: list[str]) -> None:
    body = "order_id,late\n" + "".join(f"{100 + i},{label}\n" for i, label in enumerate(labels))
    s3.put_object(Bucket=BUCKET, Key=TRUTH_KEY, Body=body.encode())


def run_classification(job: Job, monkeypatch, schema: dict, metric: str, threshold: str, problem: str = "binary"):
    job.configure_inputs(data=f"s3://{BUCKET}/{BATCH_KEY}", predictions=f"s3://{BUCKET}/runs/predictions")
    return job.run_in_process(
        "model_quality.py", "--inference-prefix", "data/inference", "--ground-truth-prefix", "data/ground-truth",
        "--metric", metric, "--problem-type", problem, "--classes", json.dumps(schema["classes"]),
        "--threshold", threshold, "--region", REGION, monkeypatch=monkeypatch)


def test_binary_model_quality_maps_labels_and_fails_on_shifted_labels(s3, tmp_path, monkeypatch):
    from sklearn import metrics as sk

    labels = ["late" if i % 3 == 0 else "on_time" for i in range(30)]
    probability = [0.9 if label == "late" else 0.2 for label in labels]
    probability[1] = 0.7  # one false positive
    put_labels(s3, labels)
    job = classification_job(tmp_path, CLASSIFICATION_SCHEMA, labels, [str(p) for p in probability])
    result = run_classification(job, monkeypatch, CLASSIFICATION_SCHEMA, "f1", "0.8")
    assert result.returncode == 0 and result.message is None
    actual = [1 if label == "late" else 0 for label in labels]
    decided = [int(p >= 0.5) for p in probability]
    decision = job.result()
    assert decision["outcome"] == "passed"
    assert decision["value"] == pytest.approx(sk.f1_score(actual, decided), abs=1e-9)
    summary = decision["details"]["classification"]
    assert summary["labels"] == ["on_time", "late"]
    assert summary["confusion_matrix"] == sk.confusion_matrix(actual, decided).tolist()
    feedback = read_csv(job.output("feedback") / "feedback.csv")
    assert feedback[1] == ["100", "0", "late"]  # people's labels, not class indices

    shifted = ["on_time" if label == "late" else "late" for label in labels]  # the world changed: labels flipped
    put_labels(s3, shifted)
    job = classification_job(tmp_path / "shifted", CLASSIFICATION_SCHEMA, shifted, [str(p) for p in probability])
    assert run_classification(job, monkeypatch, CLASSIFICATION_SCHEMA, "f1", "0.8").returncode == 0
    assert job.result()["outcome"] == "failed"


def test_unseen_ground_truth_labels_are_an_error_naming_them(s3, tmp_path, monkeypatch):
    labels = ["late", "on_time", "LATE", "unknown"] + ["late", "on_time"] * 3
    put_labels(s3, labels)
    job = classification_job(tmp_path, CLASSIFICATION_SCHEMA, labels, ["0.5"] * len(labels))
    result = run_classification(job, monkeypatch, CLASSIFICATION_SCHEMA, "auc", "0.8")
    assert result.returncode != 0
    assert "'LATE' is not one of the classes (on_time, late)" in result.message
    assert "'unknown' is not one of the classes" in result.message


def test_multiclass_predictions_are_the_container_s_probability_lists(s3, tmp_path, monkeypatch):
    from sklearn import metrics as sk

    classes = MULTICLASS_SCHEMA["classes"]
    labels = [classes[i % 3] for i in range(24)]
    rows = [[0.8 if c == label else 0.1 for c in classes] for label in labels]
    rows[0] = [0.2, 0.5, 0.3]  # one mistake
    put_labels(s3, labels)
    job = classification_job(tmp_path, MULTICLASS_SCHEMA, labels, [str(r) for r in rows])  # "[0.8, 0.1, 0.1]"
    result = run_classification(job, monkeypatch, MULTICLASS_SCHEMA, "accuracy", "0.9", problem="multiclass")
    assert result.returncode == 0 and result.message is None
    decision = job.result()
    actual = [classes.index(label) for label in labels]
    assert decision["value"] == pytest.approx(sk.accuracy_score(actual, [max(range(3), key=r.__getitem__)
                                                                         for r in rows]), abs=1e-9)
    assert decision["details"]["classification"]["per_class"]["on_time"]["support"] == 8


# ---- the join by key on large batches (numpy arrays keyed by a hash, not dicts): the same answers as a dict join


def dict_join(rows, truth_rows, predictions: list[tuple[str, float]]):
    """The join as a plain dict does it, independently of the script: later predictions of a key win."""
    predicted = dict(predictions)
    labels = {r["order_id"]: float(r["delivery_minutes"]) for r in truth_rows}
    matched = [key for key in predicted if key in labels]
    errors = np.array([predicted[key] - labels[key] for key in matched])
    feedback = [[r[c] if c != "delivery_minutes" else format(labels[r["order_id"]], ".10g") for c in COLUMNS]
                for r in rows if r["order_id"] in labels]
    return {"rmse": float(np.sqrt(np.mean(errors ** 2))), "matched": len(matched), "feedback": feedback,
            "unmatched_predictions": sorted(k for k in predicted if k not in labels),
            "unmatched_truth": sorted(k for k in labels if k not in predicted)}


@pytest.mark.parametrize("colliding", [False, True], ids=["hashed", "every-key-one-hash"])
def test_unordered_missing_and_repeated_keys_join_as_a_dict_does(s3, tmp_path, monkeypatch, colliding):
    rng = np.random.RandomState(3)
    rows = other_rows(400, first_key=10)
    rows[7]["order_id"] = "é-7"  # keys of other lengths and non-ASCII bytes
    rows[8]["order_id"] = "8"
    truth_rows = [rows[i] for i in rng.permutation(len(rows))[:330]] + other_rows(25, seed=5, first_key=90000)
    put_truth(s3, truth_rows)
    job = Job(tmp_path / "job", OTHER_SCHEMA)
    order = rng.permutation(len(rows))
    batch = [rows[i] for i in order]
    write_rows(job.input("data") / "day1" / "batch.csv", batch, ["order_id", *OTHER_FEATURES])
    scored = [(r["order_id"], float(r["delivery_minutes"]) + rng.normal(0, 2)) for r in batch[:380]]
    again = [(key, value + 5.0) for key, value in scored[::9]]  # a later file scores some keys again: it wins
    folder = job.input("predictions") / "day1"
    folder.mkdir(parents=True)
    (folder / "a.csv.out").write_text("".join(f"{key},{value!r}\n" for key, value in scored))
    (folder / "b.csv.out").write_text("".join(f"{key},{value!r}\n" for key, value in again))
    hashed = []
    if colliding:  # two keys, one hash: the exact dict fallback gives the same answers
        monkeypatch.syspath_prepend(str(SCRIPTS_DIR))
        import steplib  # the module the script imports (sys.modules)

        def one_hash(keys):
            hashed.append(len(keys))
            return np.zeros(len(keys), dtype=np.uint64)

        monkeypatch.setattr(steplib, "key_hashes", one_hash)
    result, report = check(job, monkeypatch, threshold="100")
    assert result.returncode == 0, result.message
    assert bool(hashed) == colliding
    expected = dict_join(batch, truth_rows, scored + again)
    assert report["value"] == expected["rmse"]  # the same rows summed in the same order: bit for bit
    assert report["rows_scored"] == 380 and report["rows_matched"] == expected["matched"]
    assert report["unmatched_prediction_count"] == len(expected["unmatched_predictions"])
    assert report["unmatched_prediction_keys"] == expected["unmatched_predictions"][:20]
    assert report["unmatched_ground_truth_count"] == len(expected["unmatched_truth"])
    assert report["unmatched_ground_truth_keys"] == expected["unmatched_truth"][:20]
    assert read_csv(job.output("feedback") / "feedback.csv") == [COLUMNS, *expected["feedback"]]
    assert report["feedback_rows"] == len(expected["feedback"])


def test_a_repeated_ground_truth_key_is_the_same_clear_error_in_a_large_file(s3, tmp_path, monkeypatch):
    rows = other_rows(3000, first_key=1)
    truth_rows = rows + [dict(rows[1234], delivery_minutes="7")]
    put_truth(s3, truth_rows)
    result = run_check(scored_job(tmp_path, rows, error=1.0), monkeypatch)
    assert result.returncode == 1
    truth = f"s3://{BUCKET}/{TRUTH_KEY}"  # put_truth writes the rows in reverse: the repeat comes first
    assert result.message == (f"ground truth: {truth}:1768: column 'order_id': duplicate record key '1235' (also at "
                              f"{truth}:2)")
