"""Role operations that need no AWS: CSV schema checks, key paths, the environment's AWS target."""

from __future__ import annotations

import json
import os

import pytest

from batchops import operations as ops
from batchops.aws_session import AwsTargetError, connect
from batchops_core.settings import load_settings

HEADER = "record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight"


@pytest.fixture(scope="module")
def settings():
    return load_settings("local")


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_schema_check_accepts_each_kind(settings, tmp_path):
    row = "a1,M,0.45,0.36,0.1,0.5,0.2,0.1,0.15"
    assert ops.check_csv_schema(settings, write(tmp_path, "b.csv", f"{HEADER}\n{row}\n"), "inference") == []
    training = "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings\n"
    rows = "".join(f"M,0.4,0.3,0.1,0.5,0.2,0.1,0.1,{5 + i % 7}\n" for i in range(12))  # enough for every split
    assert ops.check_csv_schema(settings, write(tmp_path, "t.csv", training + rows), "training") == []
    assert ops.check_csv_schema(settings, write(tmp_path, "g.csv", "record_id,rings\na1,9\n"), "ground-truth") == []


def test_schema_check_names_missing_and_unknown_columns_and_reads_any_order(settings, tmp_path):
    path = write(tmp_path, "b.csv", "record_id,sex,length,colour\nx,M,1,red\n")
    problems = ops.check_csv_schema(settings, path, "inference")
    assert len(problems) == 1
    assert "missing column(s) diameter, height" in problems[0] and "unknown column(s) colour" in problems[0]
    # Columns are found by name, as the pipeline's Preprocess finds them.
    swapped = HEADER.replace("length,diameter", "diameter,length")
    assert ops.check_csv_schema(settings, write(tmp_path, "s.csv", f"{swapped}\na1,M,1,2,3,4,5,6,7\n"),
                                "inference") == []


def test_schema_check_names_row_and_column_of_bad_values(settings, tmp_path):
    path = write(tmp_path, "g.csv", "record_id,rings\na1,9\na2,9.5\n,3\na4,many\n")
    assert ops.check_csv_schema(settings, path, "ground-truth") == [
        f"{path}:3: column 'rings': '9.5' is not a whole number",
        f"{path}:5: column 'rings': 'many' is not a number",
        f"{path}:4: column 'record_id': empty record key",
    ]


def test_schema_check_finds_duplicates_across_chunks_and_empty_files(settings, tmp_path):
    path = write(tmp_path, "g.csv", "record_id,rings\na1,1\na2,2\na3,3\na1,4\n")
    assert ops.check_csv_schema(settings, path, "ground-truth", chunk_rows=2) == [
        f"{path}:5: column 'record_id': duplicate record key 'a1' (also at {path}:2)"]
    assert ops.check_csv_schema(settings, write(tmp_path, "e.csv", "record_id,rings\n"), "ground-truth") == [
        f"{tmp_path / 'e.csv'}: no data rows"]
    assert "the file is empty" in ops.check_csv_schema(settings, write(tmp_path, "z.csv", ""), "ground-truth")[0]


def test_data_key_uses_the_kind_prefix_and_refuses_escapes(settings, tmp_path):
    file = tmp_path / "batch.csv"
    assert ops.data_key(settings, "inference", file, None) == "data/inference/batch.csv"
    assert ops.data_key(settings, "ground-truth", file, "2024/06/b.csv") == "data/ground-truth/2024/06/b.csv"
    for bad in ("../x.csv", "/abs.csv", "a//b.csv", "a/./b.csv"):
        with pytest.raises(ops.OperationError, match="a relative key path"):
            ops.data_key(settings, "training", file, bad)


def test_local_target_needs_a_running_emulator(settings, tmp_path):
    with pytest.raises(AwsTargetError, match="the local emulator is not running"):
        connect(settings, home=tmp_path)
    # A record whose process is not an emulator (here: this test process) is stale, not a target.
    (tmp_path / "emulator.json").write_text(json.dumps({"pid": os.getpid(), "port": 1,
                                                        "endpoint_url": "http://127.0.0.1:1"}))
    with pytest.raises(AwsTargetError, match="the local emulator is not running"):
        connect(settings, home=tmp_path)


def test_explicit_endpoint_for_an_in_process_emulator(settings):
    target = connect(settings, endpoint_url="http://127.0.0.1:1")
    assert target.is_local and target.client("s3").meta.endpoint_url == "http://127.0.0.1:1"
    assert target.client("sagemaker").meta.endpoint_url == "http://127.0.0.1:1"
    assert target.session.client("ssm").meta.endpoint_url == "http://127.0.0.1:1"  # what upsert receives
    assert target.subprocess_env()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert target.account_id == "123456789012"


def test_real_environments_never_get_an_emulator_endpoint():
    dev = load_settings("dev")
    assert connect(dev).endpoint_url is None
    with pytest.raises(AwsTargetError, match="only used for emulated environments"):
        connect(dev, endpoint_url="http://127.0.0.1:1")


def test_schema_check_flags_infinite_numbers(settings, tmp_path):
    path = write(tmp_path, "g.csv", "record_id,rings\na1,inf\na2,4\n")
    assert ops.check_csv_schema(settings, path, "ground-truth") == [f"{path}:2: column 'rings': 'inf' is not finite"]


def test_a_bucket_name_suffix_is_completed_for_the_targets_account(settings):
    suffixed = settings.model_copy(update={"storage": settings.storage.model_copy(
        update={"bucket_name_suffix": "account_id"})})
    with pytest.raises(ValueError, match="needs the account id"):
        _ = suffixed.bucket
    target = connect(suffixed, endpoint_url="http://127.0.0.1:1")  # local: the emulator's account, no STS call
    assert target.settings.bucket.startswith(settings.storage.bucket_name)
    assert target.settings.bucket.endswith(target.account_id)
    assert connect(settings, endpoint_url="http://127.0.0.1:1").settings.bucket == settings.storage.bucket_name
