"""merge_statistics: the statistics of a dataset read in parts (one per processing instance, each its share of the
files) merged into one document equal to the one-pass statistics within the KLL sketch's error bounds."""

from __future__ import annotations

import math

import pytest

from pipelines.scripts import data_quality as dq

# KLL rank error with k = 2048 stays far below 1% of the items (Karnin, Lang, Liberty 2016: O(1/k)); the
# bucket counts of the merged and the one-pass sketch may differ by that much of the items each.
RANK_ERROR = 0.01


def by_name(document: dict) -> dict:
    return {feature["name"]: feature for feature in document["features"]}


@pytest.fixture
def parts_and_whole(make_frame, write_csv):
    frame = make_frame(60_000, 11)
    shares = [frame.iloc[:25_000], frame.iloc[25_000:41_000], frame.iloc[41_000:]]
    paths = [write_csv(f"part-{n}.csv", share) for n, share in enumerate(shares)]
    parts = [dq.compute_baseline(path, header=True)[0] for path in paths]
    whole, constraints = dq.compute_baseline(paths, header=True)
    return dq.merge_statistics(parts), whole, constraints


def test_merged_counts_moments_and_categories_equal_the_one_pass_statistics(parts_and_whole):
    merged, whole, _ = parts_and_whole
    assert merged["dataset"] == whole["dataset"] == {"item_count": 60_000}
    merged_features, whole_features = by_name(merged), by_name(whole)
    assert list(merged_features) == list(whole_features)
    for name, expected in whole_features.items():
        feature = merged_features[name]
        assert feature["inferred_type"] == expected["inferred_type"]
        if "string_statistics" in expected:
            assert feature["string_statistics"] == expected["string_statistics"]  # exact counts
            continue
        got, want = feature["numerical_statistics"], expected["numerical_statistics"]
        assert got["common"] == want["common"]
        assert (got["min"], got["max"]) == (want["min"], want["max"])
        for key in ("mean", "sum", "std_dev"):
            assert math.isclose(got[key], want[key], rel_tol=1e-9), (name, key)


def test_merged_distributions_are_within_the_sketch_error_of_the_one_pass_ones(parts_and_whole):
    merged, whole, _ = parts_and_whole
    for name, expected in by_name(whole).items():
        if "numerical_statistics" not in expected:
            continue
        got = by_name(merged)[name]["numerical_statistics"]["distribution"]["kll"]
        want = expected["numerical_statistics"]["distribution"]["kll"]
        assert [(b["lower_bound"], b["upper_bound"]) for b in got["buckets"]] == \
            [(b["lower_bound"], b["upper_bound"]) for b in want["buckets"]]
        assert sum(b["count"] for b in got["buckets"]) == 60_000  # the merged sketch keeps every item's weight
        cumulative_got = cumulative_want = 0.0
        for mine, theirs in zip(got["buckets"], want["buckets"]):  # noqa: B905 (same bounds above; Python 3.9)
            cumulative_got += mine["count"]
            cumulative_want += theirs["count"]
            assert abs(cumulative_got - cumulative_want) <= RANK_ERROR * 60_000, name


def test_constraints_suggested_from_the_merge_equal_the_one_pass_ones(parts_and_whole):
    merged, _, constraints = parts_and_whole
    assert dq.suggest_constraints(merged) == constraints


def test_a_part_missing_a_column_counts_its_rows_as_missing(write_csv):
    first = dq.compute_baseline(write_csv("a.csv", "x,y\n1,a\n2,b\n"), header=True)[0]
    second = dq.compute_baseline(write_csv("b.csv", "x\n3\n"), header=True)[0]
    merged = by_name(dq.merge_statistics([first, second]))
    assert merged["y"]["string_statistics"]["common"] == {"num_present": 2, "num_missing": 1}
    assert merged["x"]["numerical_statistics"]["common"] == {"num_present": 3, "num_missing": 0}


def test_parts_that_cannot_merge_exactly_are_refused_by_name(write_csv):
    numbers = dq.compute_baseline(write_csv("a.csv", "code\n1\n2\n"), header=True)[0]
    text = dq.compute_baseline(write_csv("b.csv", "code\nA7\n"), header=True)[0]
    with pytest.raises(dq.DataQualityError, match="feature 'code' is numeric in one part and text in another"):
        dq.merge_statistics([numbers, text])
    with pytest.raises(dq.DataQualityError, match="nothing to merge"):
        dq.merge_statistics([])
