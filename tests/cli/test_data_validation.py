"""`batchops data check|drop` apply the pipeline's own validation (steplib.DataCheck) before anything is uploaded.

Issue 17: ragged rows passed `data check` and `data drop` and failed Preprocess; 1e308 was uploaded and failed
DataQualityCheck (and leaked a numpy warning); a constant target trained a "perfect" model; a directory was
"file not found". Drops go to an in-process S3 emulator (moto's server on 127.0.0.1, stopped by the fixture).
"""

from __future__ import annotations

import gzip

import boto3
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from batchops.cli import app
from batchops_core.settings import load_settings

SETTINGS = load_settings("local")
TRAINING_HEADER = "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings"
BATCH_HEADER = "record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight"


def training(rows: int = 40, rings=lambda i: 5 + i % 9) -> str:
    return TRAINING_HEADER + "\n" + "".join(f"{'MFI'[i % 3]},0.{40 + i % 30},0.35,0.1,0.5,0.2,0.1,0.15,{rings(i)}\n"
                                            for i in range(rows))


def batch(first: int = 1, rows: int = 5) -> str:
    return BATCH_HEADER + "\n" + "".join(f"b{first + i},M,0.45,0.36,0.1,0.5,0.2,0.1,0.15\n" for i in range(rows))


@pytest.fixture
def s3(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_DEFAULT_REGION": SETTINGS.region,
                           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            monkeypatch.setenv(key, value)
        client = boto3.client("s3", region_name=SETTINGS.region, endpoint_url=f"http://{host}:{port}")
        client.create_bucket(Bucket=SETTINGS.bucket)
        yield client
    finally:
        server.stop()


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("BATCHOPS_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def keys(s3) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=SETTINGS.bucket).get("Contents", [])]


def test_ragged_rows_are_refused_by_check_and_drop_nothing_uploaded(cli, s3, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(training() + "M,0.4,0.3\n" + "F,0.4,0.3,0.1,0.5,0.2,0.1,0.15,9,extra\n")
    checked = cli("data", "check", str(path), "--kind", "training", "--offline")
    assert checked.exit_code == 1, checked.output
    assert f"{path}:42: 3 fields, expected 9 ({TRAINING_HEADER.replace(',', ', ')})" in checked.output
    assert f"{path}:43: 10 fields, expected 9" in checked.output
    assert "schema ok" not in checked.output
    dropped = cli("data", "drop", str(path), "--kind", "training")
    assert dropped.exit_code == 1
    assert f"{path}:42: 3 fields, expected 9" in dropped.output and f"{path}: not uploaded" in dropped.output
    assert keys(s3) == []


def test_numbers_beyond_what_xgboost_and_the_data_quality_check_read_are_one_clear_line(cli, s3, tmp_path):
    path = tmp_path / "batch.csv"
    path.write_text(batch(rows=3) + "b9,M,1e308,-1e308,0.1,0.5,0.2,0.1,1e309\n")
    with _no_warnings():  # none reaches the terminal: a numeric warning would be a problem line
        checked = cli("data", "check", str(path), "--offline")
    assert checked.exit_code == 1
    assert f"{path}:5: column 'length': '1e308' is too large: numbers must be at most 3.4028235e+38" in checked.output
    assert f"{path}:5: column 'diameter': '-1e308' is too large" in checked.output
    assert f"{path}:5: column 'shell_weight': '1e309' is not finite" in checked.output
    assert "Warning" not in checked.output
    dropped = cli("data", "drop", str(path), "--kind", "inference")
    assert dropped.exit_code == 1 and "'1e308' is too large" in dropped.output
    assert keys(s3) == []


def _no_warnings():
    import warnings

    class Guard:
        def __enter__(self):
            self.catcher = warnings.catch_warnings(record=True)
            self.caught = self.catcher.__enter__()
            warnings.simplefilter("always")
            return self

        def __exit__(self, *exc):
            self.catcher.__exit__(*exc)
            assert [str(w.message) for w in self.caught] == []

    return Guard()


@pytest.mark.parametrize("rings,expected", [
    (lambda i: -5, "target column 'rings' is constant (every value is -5)"),
    (lambda i: 7, "target column 'rings' is constant (every value is 7)"),
])
def test_a_constant_target_is_refused_before_upload(cli, s3, tmp_path, rings, expected):
    path = tmp_path / "train.csv"
    path.write_text(training(rings=rings))
    checked = cli("data", "check", str(path), "--kind", "training", "--offline")
    assert checked.exit_code == 1 and f"{path}: {expected}" in checked.output
    dropped = cli("data", "drop", str(path), "--kind", "training")
    assert dropped.exit_code == 1 and expected in dropped.output
    assert keys(s3) == []


def test_too_few_training_rows_for_the_configured_splits_are_refused(cli, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(training(rows=6))
    checked = cli("data", "check", str(path), "--kind", "training", "--offline")
    assert checked.exit_code == 1
    assert (f"{path}: 6 row(s) cannot be split into train/validation/test with fractions "
            f"{SETTINGS.model.validation_fraction} (validation)") in checked.output


def test_a_directory_is_checked_file_by_file_and_dropped_as_one_folder_dataset_only_when_all_pass(cli, s3, tmp_path):
    folder = tmp_path / "day1"
    (folder / "east").mkdir(parents=True)
    (folder / "a.csv").write_text(batch(1))
    (folder / "east" / "b.csv").write_text(batch(1))  # `data check` checks each file on its own: no clash
    (folder / "notes.txt").write_text("ignored")
    checked = cli("data", "check", str(folder), "--offline")
    assert checked.exit_code == 0, checked.output
    assert f"{folder}: schema ok (2 CSV file(s), inference)" in checked.output
    # ... but a drop makes them one dataset, read by one run: a record key twice is refused.
    refused = cli("data", "drop", str(folder), "--kind", "inference")
    assert refused.exit_code == 1 and "b1" in refused.output and keys(s3) == []
    (folder / "east" / "b.csv").write_text(batch(20))
    (folder / "east" / "c.csv").write_text(batch(10).replace("b11,M,0.45", "b11,M,long"))
    checked = cli("data", "check", str(folder), "--offline")
    assert checked.exit_code == 1 and f"{folder / 'east' / 'c.csv'}:3: column 'length': 'long' is not a number" \
        in checked.output
    refused = cli("data", "drop", str(folder), "--kind", "inference")
    assert refused.exit_code == 1 and keys(s3) == []  # two good files, one bad: nothing is uploaded
    columns = BATCH_HEADER.split(",")
    swapped = ",".join([columns[0], columns[2], columns[1], *columns[3:]])
    (folder / "east" / "c.csv").write_text(batch(10).replace(BATCH_HEADER, swapped).replace(",M,0.45,", ",0.45,M,"))
    refused = cli("data", "drop", str(folder), "--kind", "inference")
    assert refused.exit_code == 1 and "have different headers" in refused.output and "east/c.csv" in refused.output
    assert keys(s3) == []
    (folder / "east" / "c.csv").unlink()
    dropped = cli("data", "drop", str(folder), "--kind", "inference", "--as", "2024/day1")
    assert dropped.exit_code == 0, dropped.output
    # Parts gzip-compressed (a `.csv` part would start a run of its own), the trigger file written last.
    assert sorted(keys(s3)) == ["data/inference/2024/day1/_SUCCESS", "data/inference/2024/day1/a.csv.gz",
                                "data/inference/2024/day1/east/b.csv.gz"]
    assert [line.split()[1] for line in dropped.output.splitlines() if line.startswith("dropped")][-1] == \
        f"s3://{SETTINGS.bucket}/data/inference/2024/day1/_SUCCESS"
    body = s3.get_object(Bucket=SETTINGS.bucket, Key="data/inference/2024/day1/east/b.csv.gz")["Body"].read()
    assert gzip.decompress(body).decode() == batch(20)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("data", "check", str(empty), "--offline")
    assert result.exit_code == 2 and f"{empty}: a directory without CSV files" in result.output


def test_ground_truth_for_a_batch_goes_to_its_relative_path_under_the_ground_truth_prefix(cli, s3, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("record_id,rings\n" + "".join(f"b{i},{5 + i}\n" for i in range(1, 6)))
    missing = cli("data", "drop", str(labels), "--kind", "ground-truth",
                  "--ground-truth-for", "data/inference/d1/a.csv")
    assert missing.exit_code == 2
    assert ("--ground-truth-for 'data/inference/d1/a.csv': no batch s3://abalone-local-data/data/inference/d1/a.csv"
            in missing.output) and "data/ground-truth/d1/a.csv" not in keys(s3)
    s3.put_object(Bucket=SETTINGS.bucket, Key="data/inference/d1/a.csv", Body=batch().encode())
    dropped = cli("data", "drop", str(labels), "--kind", "ground-truth", "--ground-truth-for",
                  f"s3://{SETTINGS.bucket}/data/inference/d1/a.csv")
    assert dropped.exit_code == 0, dropped.output
    assert "dropped s3://abalone-local-data/data/ground-truth/d1/a.csv" in dropped.output
    assert sorted(k for k in keys(s3) if "/d1/" in k) == ["data/ground-truth/d1/a.csv", "data/inference/d1/a.csv"]
    for args, expected in (
            (("--kind", "inference"), "--ground-truth-for needs --kind ground-truth, not --kind inference"),
            (("--kind", "ground-truth", "--as", "x.csv"), "--ground-truth-for and --as both name the key: give one"),
    ):
        refused = cli("data", "drop", str(labels), *args, "--ground-truth-for", "data/inference/d1/a.csv")
        assert refused.exit_code == 2 and expected in refused.output
    outside = cli("data", "drop", str(labels), "--kind", "ground-truth", "--ground-truth-for", "data/training/a.csv")
    assert outside.exit_code == 2
    assert ("--ground-truth-for 'data/training/a.csv': the key of a dropped batch under 'data/inference/'"
            in outside.output)
    other = cli("data", "drop", str(labels), "--kind", "ground-truth", "--ground-truth-for",
                "s3://elsewhere/data/inference/d1/a.csv")
    assert other.exit_code == 2 and "batches are in s3://abalone-local-data/, not s3://elsewhere/" in other.output
    labels.write_text("record_id,rings\nb1,many\n")
    bad = cli("data", "drop", str(labels), "--kind", "ground-truth", "--ground-truth-for", "data/inference/d1/a.csv",
              "--overwrite")
    assert bad.exit_code == 1 and "not uploaded" in bad.output  # the DataCheck of ground truth, before the upload
