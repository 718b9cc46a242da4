"""Statistics and suggested constraints of small datasets, checked against hand-computed values."""

from __future__ import annotations

import json
import math

import pytest

from pipelines.scripts import data_quality as dq

SMALL = (
    "cat,n_int,n_float,mixed,empty\n"
    "a,1,0.5,1,\n"
    "b,2,1.5,x,\n"
    "a,3,,3,\n"
    ",4,2.5,4.5,\n"
    "c,,3.5,5,\n"
)


def by_name(document: dict) -> dict:
    return {feature["name"]: feature for feature in document["features"]}


@pytest.fixture
def small(write_csv):
    return dq.compute_baseline(write_csv("small.csv", SMALL), header=True)


def test_dataset_level_and_feature_order(small):
    statistics, constraints = small
    assert statistics["version"] == 0
    assert statistics["dataset"] == {"item_count": 5}
    assert [f["name"] for f in statistics["features"]] == ["cat", "n_int", "n_float", "mixed", "empty"]
    assert [f["name"] for f in constraints["features"]] == ["cat", "n_int", "n_float", "mixed", "empty"]


def test_integral_feature_hand_computed(small):
    feature = by_name(small[0])["n_int"]
    assert feature["inferred_type"] == "Integral"
    numbers = feature["numerical_statistics"]
    assert numbers["common"] == {"num_present": 4, "num_missing": 1}
    assert numbers["sum"] == 10.0
    assert numbers["mean"] == 2.5
    assert numbers["std_dev"] == pytest.approx(math.sqrt(1.25), rel=1e-15)  # population std of 1, 2, 3, 4
    assert (numbers["min"], numbers["max"]) == (1.0, 4.0)
    kll = numbers["distribution"]["kll"]
    # ten equal-width buckets over [1, 4]: the values 1, 2, 3, 4 fall in buckets 0, 3, 6 and 9
    assert [b["count"] for b in kll["buckets"]] == [1.0, 0, 0, 1.0, 0, 0, 1.0, 0, 0, 1.0]
    assert kll["buckets"][0]["lower_bound"] == 1.0 and kll["buckets"][-1]["upper_bound"] == 4.0
    assert kll["buckets"][3]["lower_bound"] == pytest.approx(1.9)
    assert kll["sketch"] == {"parameters": {"c": 0.64, "k": 2048.0}, "data": [[1.0, 2.0, 3.0, 4.0]]}


def test_fractional_feature_hand_computed(small):
    numbers = by_name(small[0])["n_float"]["numerical_statistics"]
    assert by_name(small[0])["n_float"]["inferred_type"] == "Fractional"
    assert numbers["common"] == {"num_present": 4, "num_missing": 1}
    assert (numbers["sum"], numbers["mean"], numbers["min"], numbers["max"]) == (8.0, 2.0, 0.5, 3.5)
    assert numbers["std_dev"] == pytest.approx(math.sqrt(1.25), rel=1e-15)


def test_string_features_hand_computed(small):
    features = by_name(small[0])
    cat = features["cat"]["string_statistics"]
    assert features["cat"]["inferred_type"] == "String"
    assert cat["common"] == {"num_present": 4, "num_missing": 1}
    assert cat["distinct_count"] == 3
    assert cat["distribution"]["categorical"]["buckets"] == [
        {"value": "a", "count": 2}, {"value": "b", "count": 1}, {"value": "c", "count": 1}]
    # one non-numeric value makes the whole feature String; numbers keep their text as category names
    mixed = features["mixed"]
    assert mixed["inferred_type"] == "String"
    assert mixed["string_statistics"]["distinct_count"] == 5
    assert [b["value"] for b in mixed["string_statistics"]["distribution"]["categorical"]["buckets"]] == [
        "1", "3", "4.5", "5", "x"]


def test_all_null_feature_is_unknown(small):
    statistics, constraints = small
    empty = by_name(statistics)["empty"]
    assert empty["inferred_type"] == "Unknown"
    assert empty["string_statistics"]["common"] == {"num_present": 0, "num_missing": 5}
    assert empty["string_statistics"]["distribution"]["categorical"]["buckets"] == []
    assert by_name(constraints)["empty"] == {"name": "empty", "inferred_type": "Unknown", "completeness": 0.0}


def test_suggested_constraints(small):
    constraints = by_name(small[1])
    assert constraints["cat"] == {"name": "cat", "inferred_type": "String", "completeness": 0.8,
                                  "string_constraints": {"domains": ["a", "b", "c"]}}
    assert constraints["n_int"] == {"name": "n_int", "inferred_type": "Integral", "completeness": 0.8,
                                    "num_constraints": {"is_non_negative": True}}
    assert constraints["mixed"]["completeness"] == 1.0
    config = small[1]["monitoring_config"]
    assert config["datatype_check_threshold"] == 1.0
    assert config["distribution_constraints"]["comparison_method"] == "Robust"
    assert config["distribution_constraints"]["categorical_drift_method"] == "LInfinity"


def test_negative_values_and_generation_settings(write_csv):
    path = write_csv("neg.csv", "v\n-1.5\n2\n")
    statistics, constraints = dq.compute_baseline(path, header=True, comparison_threshold=0.25,
                                                  comparison_method="linf_simple",
                                                  categorical_drift_method="chisquared")
    assert constraints["features"][0]["num_constraints"] == {"is_non_negative": False}
    distribution = constraints["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == 0.25
    assert distribution["categorical_comparison_threshold"] == 0.25
    assert distribution["comparison_method"] == "Simple"
    assert distribution["categorical_drift_method"] == "ChiSquared"


def test_without_header_columns_are_positional(write_csv):
    path = write_csv("plain.csv", "1,a\n2,b\n")
    statistics, _ = dq.compute_baseline(path, header=False)
    assert [f["name"] for f in statistics["features"]] == ["_c0", "_c1"]
    assert statistics["dataset"]["item_count"] == 2


def test_text_that_pandas_would_call_missing_is_a_value(write_csv):
    path = write_csv("na.csv", "code\nNA\nnull\nNA\n\n")
    feature = dq.compute_baseline(path, header=True)[0]["features"][0]
    assert feature["inferred_type"] == "String"
    assert feature["string_statistics"]["common"] == {"num_present": 3, "num_missing": 0}
    assert feature["string_statistics"]["distribution"]["categorical"]["buckets"] == [
        {"value": "NA", "count": 2}, {"value": "null", "count": 1}]


def test_directory_files_are_combined_by_column_name(write_csv, tmp_path):
    write_csv("data/part-1.csv", "a,b\n1,x\n2,y\n")
    write_csv("data/sub/part-2.csv", "b,c\nz,1.5\n")
    write_csv("data/.hidden.csv", "zzz\n1\n")
    write_csv("data/_SUCCESS", "")
    write_csv("data/empty.csv", "")
    statistics, _ = dq.compute_baseline(tmp_path / "data", header=True)
    features = by_name(statistics)
    assert list(features) == ["a", "b", "c"]
    assert statistics["dataset"]["item_count"] == 3
    assert features["a"]["numerical_statistics"]["common"] == {"num_present": 2, "num_missing": 1}
    assert features["c"]["numerical_statistics"]["common"] == {"num_present": 1, "num_missing": 2}
    assert features["b"]["string_statistics"]["distinct_count"] == 3


def test_header_only_file_gives_features_without_rows(write_csv):
    statistics, constraints = dq.compute_baseline(write_csv("h.csv", "a,b\n"), header=True)
    assert statistics["dataset"]["item_count"] == 0
    assert [f["inferred_type"] for f in statistics["features"]] == ["Unknown", "Unknown"]
    assert [f["completeness"] for f in constraints["features"]] == [0.0, 0.0]


def test_ragged_lines_are_skipped_not_fatal(write_csv):
    profile = dq._DatasetProfile(header=True, chunk_rows=10).read(write_csv("r.csv", "a,b\n1,2\n3,4,5\n6\n"))
    statistics = profile.statistics()
    assert statistics["dataset"]["item_count"] == 2  # the short line counts (b missing), the long one is skipped
    assert profile.skipped_lines == 1
    assert by_name(statistics)["b"]["numerical_statistics"]["common"] == {"num_present": 1, "num_missing": 1}


@pytest.mark.parametrize("problem, pattern", [
    ("missing", "does not exist"),
    ("empty_dir", "no CSV file found"),
])
def test_unusable_dataset_locations_are_clear_errors(tmp_path, problem, pattern):
    target = tmp_path / "nothing-here"
    if problem == "empty_dir":
        target.mkdir()
    with pytest.raises(dq.DataQualityError, match=pattern):
        dq.compute_baseline(target, header=True)


def test_chunked_result_equals_single_chunk(write_csv, make_frame):
    # more values than one numeric block, so moments and sketch go through real compactions
    frame = make_frame(dq.NUMERIC_BLOCK_VALUES + 7000, seed=3)
    frame.loc[::97, "length"] = None
    path = write_csv("big.csv", frame)
    single = dq.compute_baseline(path, header=True, chunk_rows=1_000_000)
    assert len(single[0]["features"][2]["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"]) > 1
    for chunk_rows in (997, 10_000):
        chunked = dq.compute_baseline(path, header=True, chunk_rows=chunk_rows)
        assert json.dumps(chunked) == json.dumps(single), f"chunk_rows={chunk_rows}"


def test_same_input_gives_same_bytes(write_csv, make_frame, tmp_path):
    path = write_csv("d.csv", make_frame(3000, seed=5))
    for run in ("one", "two"):
        statistics, constraints = dq.compute_baseline(path, header=True)
        dq.write_json(tmp_path / run / "statistics.json", statistics)
        dq.write_json(tmp_path / run / "constraints.json", constraints)
    for name in ("statistics.json", "constraints.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_large_sample_moments_match_pandas(write_csv, make_frame):
    frame = make_frame(50_000, seed=11)
    statistics, _ = dq.compute_baseline(write_csv("m.csv", frame), header=True, chunk_rows=4096)
    for column in ("count", "length", "weight"):
        numbers = by_name(statistics)[column]["numerical_statistics"]
        assert numbers["mean"] == pytest.approx(frame[column].mean(), rel=1e-12)
        assert numbers["sum"] == pytest.approx(frame[column].sum(), rel=1e-12)
        assert numbers["std_dev"] == pytest.approx(frame[column].std(ddof=0), rel=1e-10)
        assert (numbers["min"], numbers["max"]) == (frame[column].min(), frame[column].max())
        assert sum(b["count"] for b in numbers["distribution"]["kll"]["buckets"]) == 50_000
    colour = by_name(statistics)["colour"]["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert {b["value"]: b["count"] for b in colour} == frame["colour"].value_counts().to_dict()


def test_high_cardinality_strings_fall_back_to_an_estimate(write_csv, monkeypatch):
    monkeypatch.setattr(dq, "TRACKED_DISTINCT_LIMIT", 50)
    text = "id\n" + "".join(f"user-{i % 3000}\n" for i in range(6000))
    feature = dq.compute_baseline(write_csv("ids.csv", text), header=True, chunk_rows=500)[0]["features"][0]
    strings = feature["string_statistics"]
    assert strings["distribution"]["categorical"]["buckets"] == []
    assert strings["distinct_count"] == pytest.approx(3000, rel=0.05)


def test_compressed_files_are_read(tmp_path):
    import gzip

    path = tmp_path / "part.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("v\n1\n2\n3\n")
    statistics, _ = dq.compute_baseline(path, header=True)
    assert statistics["features"][0]["numerical_statistics"]["sum"] == 6.0


def test_boolean_and_infinite_text_values_are_strings(write_csv):
    statistics, _ = dq.compute_baseline(write_csv("b.csv", "flag,level\nTrue,1\nFalse,inf\nTrue,2\n"), header=True)
    flag, level = statistics["features"]
    assert flag["inferred_type"] == "String"
    assert {b["value"]: b["count"] for b in flag["string_statistics"]["distribution"]["categorical"]["buckets"]} \
        == {"True": 2, "False": 1}
    assert level["inferred_type"] == "String"  # "inf" is no number a feature can be typed with
    assert level["string_statistics"]["distinct_count"] == 3
