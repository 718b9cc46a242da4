"""Preprocess reads a folder dataset (the folder of its trigger key, steplib.dataset_files): every gzip part once,
hidden names skipped; an object that is not a part is an error naming it (moto in process)."""

from __future__ import annotations

import gzip

from step_script_support import BUCKET, OTHER_SCHEMA, REGION, Job, other_rows, read_csv, write_rows

COLUMNS = [c["name"] for c in OTHER_SCHEMA["columns"]]
TRAIN_ARGS = ["--mode", "train", "--validation-fraction", "0.2", "--test-fraction", "0.2", "--seed", "5",
              "--region", REGION, "--trigger-file", "_SUCCESS"]
FOLDER = "data/training/2026-12-03/export"


def put_parts(s3, tmp_path, counts: list[int]) -> None:
    first = 1
    for number, count in enumerate(counts):
        path = write_rows(tmp_path / f"part-{number}.csv", other_rows(count, seed=number, first_key=first), COLUMNS)
        s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/part-{number}.csv.gz", Body=gzip.compress(path.read_bytes()))
        first += count
    s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/_SUCCESS", Body=b"")
    s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/_committed_1", Body=b"spark marker")


def run_triggered(tmp_path, monkeypatch):
    job = Job(tmp_path / "job", OTHER_SCHEMA)
    (job.input("data") / "_SUCCESS").parent.mkdir(parents=True, exist_ok=True)
    (job.input("data") / "_SUCCESS").write_bytes(b"")  # what the processing input downloads: the trigger alone
    job.configure_inputs(data=f"s3://{BUCKET}/{FOLDER}/_SUCCESS")
    return job, job.run_in_process("preprocess.py", *TRAIN_ARGS, monkeypatch=monkeypatch)


def test_every_part_of_the_folder_is_read_once(s3, tmp_path, monkeypatch):
    put_parts(s3, tmp_path, [12, 9, 19])
    job, result = run_triggered(tmp_path, monkeypatch)
    assert result.returncode == 0, result.message
    assert sum(len(read_csv(job.output(n) / f"{n}.csv")) for n in ("train", "validation", "test")) == 40


def test_a_plain_csv_in_the_folder_is_refused_naming_it(s3, tmp_path, monkeypatch):
    put_parts(s3, tmp_path, [12, 20])
    s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/extra.csv", Body=b"a,b\n")
    _, result = run_triggered(tmp_path, monkeypatch)
    assert result.returncode == 1
    assert result.message.startswith(f"the folder dataset s3://{BUCKET}/{FOLDER}/: 'extra.csv' ends in .csv: "
                                     "such an object starts a run of its own"), result.message
