"""The HPO pipeline's Preprocess folds labelled feedback batches (written by ModelQualityCheck) into training."""

from __future__ import annotations

from step_script_support import BUCKET, OTHER_SCHEMA, REGION, Job, other_rows, read_csv, write_rows

COLUMNS = [c["name"] for c in OTHER_SCHEMA["columns"]]
TRAIN_ARGS = ["--mode", "train", "--validation-fraction", "0.2", "--test-fraction", "0.2", "--seed", "5"]


def test_feedback_batches_are_added_to_the_training_rows(s3, tmp_path, monkeypatch):
    feedback = tmp_path / "feedback.csv"
    for execution in ("exec-1", "exec-2"):
        write_rows(feedback, other_rows(10, seed=len(execution) + ord(execution[-1]), first_key=1000), COLUMNS)
        s3.upload_file(str(feedback), BUCKET, f"runs/feedback/{execution}/feedback.csv")
    s3.put_object(Bucket=BUCKET, Key="runs/feedback/exec-2/report.json", Body=b"{}")  # not a CSV: ignored
    job = Job(tmp_path / "job", OTHER_SCHEMA)
    write_rows(job.input("data") / "train.csv", other_rows(30), COLUMNS)
    result = job.run_in_process("preprocess.py", *TRAIN_ARGS, "--feedback-uri", f"s3://{BUCKET}/runs/feedback/",
                                "--region", REGION, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.message
    sizes = [len(read_csv(job.output(name) / f"{name}.csv")) for name in ("train", "validation", "test")]
    assert sum(sizes) == 50


def test_an_empty_feedback_location_trains_on_the_input_alone(s3, tmp_path, monkeypatch):
    job = Job(tmp_path / "job", OTHER_SCHEMA)
    write_rows(job.input("data") / "train.csv", other_rows(30), COLUMNS)
    result = job.run_in_process("preprocess.py", *TRAIN_ARGS, "--feedback-uri", f"s3://{BUCKET}/runs/feedback/",
                                "--region", REGION, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.message
    assert sum(len(read_csv(job.output(n) / f"{n}.csv")) for n in ("train", "validation", "test")) == 30


def test_an_unreadable_feedback_location_names_it(s3, tmp_path, monkeypatch):
    job = Job(tmp_path / "job", OTHER_SCHEMA)
    write_rows(job.input("data") / "train.csv", other_rows(30), COLUMNS)
    result = job.run_in_process("preprocess.py", *TRAIN_ARGS, "--feedback-uri", "s3://no-such-bucket/feedback/",
                                "--region", REGION, monkeypatch=monkeypatch)
    assert result.returncode == 1
    assert result.message.startswith("cannot read labelled feedback under s3://no-such-bucket/feedback/")
