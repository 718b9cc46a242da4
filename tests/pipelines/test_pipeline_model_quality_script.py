"""model_quality.py: join by record key, pass / fail / no ground truth / key mismatch, labelled feedback."""

from __future__ import annotations

import csv
import io
import json

import boto3
import moto
import pytest
from step_script_support import OTHER_FEATURES, OTHER_SCHEMA, Job, other_rows, read_csv, write_rows

REGION = "us-east-1"
BUCKET = "shop-data"
BATCH_KEY = "data/inference/day1/batch.csv"
TRUTH_KEY = "data/ground-truth/day1/batch.csv"
FEEDBACK_URI = f"s3://{BUCKET}/runs/feedback/exec-1"
COLUMNS = [c["name"] for c in OTHER_SCHEMA["columns"]]


@pytest.fixture
def s3(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


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


def check(job: Job, monkeypatch, *, metric: str = "rmse", threshold: str = "3.0", key: str = BATCH_KEY):
    result = job.run_in_process(
        "model_quality.py", "--input-bucket", BUCKET, "--input-key", key, "--inference-prefix", "data/inference",
        "--ground-truth-prefix", "data/ground-truth", "--metric", metric, "--threshold", threshold,
        "--feedback-uri", FEEDBACK_URI, "--region", REGION, monkeypatch=monkeypatch)
    report = json.loads((job.output("report") / "report.json").read_text())
    return result, report


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


def test_equal_to_the_threshold_passes(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    result, report = check(scored_job(tmp_path, rows, error=2.0), monkeypatch, metric="mae", threshold="2.0")
    assert result.returncode == 0 and report["status"] == "passed"


def test_a_bad_batch_fails_with_metric_value_threshold_and_rows(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=4.0)
    result, report = check(job, monkeypatch)
    assert result.returncode == 1
    assert report["status"] == "failed" and report["value"] == pytest.approx(4.0)
    assert result.message.startswith("Model quality violation: rmse 4 is above the threshold 3 on 20 matched rows")
    # A failed job's outputs are not uploaded: the labelled batch goes to the feedback location directly.
    body = s3.get_object(Bucket=BUCKET, Key="runs/feedback/exec-1/feedback.csv")["Body"].read().decode()
    assert body.splitlines()[0] == ",".join(COLUMNS) and len(body.splitlines()) == 21


def test_r2_fails_below_its_threshold(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    result, report = check(scored_job(tmp_path, rows, error=30.0), monkeypatch, metric="r2", threshold="0.4")
    assert result.returncode == 1 and "r2" in result.message and "below the threshold 0.4" in result.message


def test_missing_ground_truth_is_skipped(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows, key="data/ground-truth/day2/batch.csv")
    job = scored_job(tmp_path, rows, error=50.0)
    result, report = check(job, monkeypatch)
    assert result.returncode == 0
    assert report["status"] == "skipped" and report["reason"] == "no ground truth for this batch"
    assert not (job.output("feedback") / "feedback.csv").exists()


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
    result, report = check(scored_job(tmp_path, rows, error=9.0), monkeypatch)
    assert result.returncode == 0 and report["status"] == "skipped"
    assert report["reason"] == "no record key of the ground truth matches a prediction"


def test_a_batch_outside_the_inference_prefix_is_skipped(s3, rows, tmp_path, monkeypatch):
    result, report = check(scored_job(tmp_path, rows, error=9.0), monkeypatch, key="elsewhere/batch.csv")
    assert result.returncode == 0 and report["status"] == "skipped" and "inference prefix" in report["reason"]


def test_malformed_predictions_are_a_clear_failure(s3, rows, tmp_path, monkeypatch):
    put_truth(s3, rows)
    job = scored_job(tmp_path, rows, error=0.0)
    (job.input("predictions") / "day1" / "batch.csv.out").write_text("100,abc\n")
    result = job.run_in_process(
        "model_quality.py", "--input-bucket", BUCKET, "--input-key", BATCH_KEY, "--inference-prefix",
        "data/inference", "--ground-truth-prefix", "data/ground-truth", "--metric", "rmse", "--threshold", "3",
        "--region", REGION, monkeypatch=monkeypatch)
    assert result.returncode == 1
    assert result.message == "day1/batch.csv.out line 1: prediction 'abc' is not a number"
