"""The vectorised CSV transform engine: filters, join, record handling, chunking, errors."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from batchops_local.runner.batch_transform import ColumnFilter, TransformError, TransformSettings, transform_csv_file


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(300, 2))
    return xgb.train({"max_depth": 2}, xgb.DMatrix(x, label=x[:, 0] * 10 + x[:, 1]), 10)


def _run(booster, tmp_path, text: str, **settings) -> list[str]:
    source, target = tmp_path / "in.csv", tmp_path / "in.csv.out"
    source.write_bytes(text.encode())
    transform_csv_file(booster, source, target, TransformSettings(**settings))
    return target.read_text().splitlines()


def _expected(booster, rows: list[list[float]]) -> list[str]:
    return [repr(float(v)) for v in booster.inplace_predict(np.array(rows, dtype=np.float32))]


@pytest.mark.parametrize(("expression", "columns", "selected"), [
    ("$[1:]", 4, [1, 2, 3]), ("$[0,-1]", 4, [0, 3]), ("$[1:3]", 5, [1, 2]), ("$[:-1]", 3, [0, 1]),
    ("$[2]", 3, [2]), ("$[ 0 , 2 ]", 3, [0, 2]),
])
def test_filters_select_columns_like_sagemaker(expression, columns, selected):
    assert ColumnFilter.parse(expression).indices(columns) == selected


def test_whole_record_filters_and_bad_filters():
    assert ColumnFilter.parse("$") is None and ColumnFilter.parse(None) is None
    with pytest.raises(ValueError, match=r"unsupported CSV filter '\$\.features'"):
        ColumnFilter.parse("$.features")
    with pytest.raises(TransformError, match="selects column 5, the record has 3"):
        ColumnFilter.parse("$[0,5]").indices(3)


def test_join_keeps_the_input_line_verbatim_and_appends_the_prediction(booster, tmp_path):
    lines = _run(booster, tmp_path, "a,0.1,0.2\r\nb,0.5,0.9\r\n\r\nc,1,0\n", input_filter=ColumnFilter.parse("$[1:]"),
                 join_input=True)
    predicted = _expected(booster, [[0.1, 0.2], [0.5, 0.9], [1, 0]])
    assert lines == [f"a,0.1,0.2,{predicted[0]}", f"b,0.5,0.9,{predicted[1]}", f"c,1,0,{predicted[2]}"]


def test_without_join_each_record_becomes_one_prediction_line(booster, tmp_path):
    lines = _run(booster, tmp_path, "0.1,0.2\n0.3,0.4")
    assert lines == _expected(booster, [[0.1, 0.2], [0.3, 0.4]])


def test_output_filter_over_the_joined_record_keeps_original_text(booster, tmp_path):
    lines = _run(booster, tmp_path, "id-007,0.10,0.20\nid-008,,0.40\n", input_filter=ColumnFilter.parse("$[1:]"),
                 output_filter=ColumnFilter.parse("$[0,-1]"), join_input=True)
    predicted = _expected(booster, [[0.1, 0.2], [np.nan, 0.4]])  # an empty field is a missing value
    assert lines == [f"id-007,{predicted[0]}", f"id-008,{predicted[1]}"]


def test_a_column_both_sent_and_kept_is_numeric_for_the_model_and_text_for_the_output(booster, tmp_path):
    lines = _run(booster, tmp_path, "0.10,0.20\n", output_filter=ColumnFilter.parse("$[0,-1]"), join_input=True)
    assert lines == [f"0.10,{_expected(booster, [[0.1, 0.2]])[0]}"]


def test_small_chunks_give_the_same_output_as_one_chunk(booster, tmp_path):
    rows = np.random.default_rng(1).uniform(0, 1, size=(500, 2)).round(4)
    text = "\n".join(f"r{i},{a},{b}" for i, (a, b) in enumerate(rows)) + "\n"
    settings = {"input_filter": ColumnFilter.parse("$[1:]"), "join_input": True}
    whole = _run(booster, tmp_path, text, **settings)
    chunked = _run(booster, tmp_path, text, chunk_bytes=300, **settings)
    assert chunked == whole and len(whole) == 500


def test_a_text_column_sent_to_the_model_fails_the_object_with_a_hint(booster, tmp_path):
    with pytest.raises(TransformError, match="InputFilter must leave numeric columns only"):
        _run(booster, tmp_path, "id,a,b\nx,0.1,0.2\n", join_input=True)


def test_a_feature_count_the_model_does_not_take_is_a_clear_error(booster, tmp_path):
    with pytest.raises(TransformError, match="the model rejected the records from line 1 \\(3 feature columns\\)"):
        _run(booster, tmp_path, "0.1,0.2,0.3\n")


def test_multi_softprob_writes_the_container_s_list_text_one_csv_field_per_class(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 2))
    labels = np.digitize(features[:, 0], [-0.5, 0.5])
    softprob = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(features, label=labels), 2)
    rows = [[0.1, 0.2], [1.5, -0.3]]
    probabilities = softprob.inplace_predict(np.array(rows, dtype=np.float32))
    container = [str(row) for row in probabilities.tolist()]  # serve.py in a batch transform: str of the list
    assert _run(softprob, tmp_path, "0.1,0.2\n1.5,-0.3\n") == container
    joined = _run(softprob, tmp_path, "a,0.1,0.2\nb,1.5,-0.3\n", input_filter=ColumnFilter.parse("$[1:]"),
                  join_input=True)
    assert joined == [f"a,0.1,0.2,{container[0]}", f"b,1.5,-0.3,{container[1]}"]
    # The output filter counts the CSV fields of the joined record: the list is one field per class.
    kept = _run(softprob, tmp_path, "a,0.1,0.2\nb,1.5,-0.3\n", input_filter=ColumnFilter.parse("$[1:]"),
                output_filter=ColumnFilter.parse("$[0,-3,-2,-1]"), join_input=True)
    assert kept == [f"a,{container[0]}", f"b,{container[1]}"]
