"""Checks against a baseline: every violation type from a crafted input, drift on shifted vs resampled data,
and the monitoring_config keys that switch checks on and off."""

from __future__ import annotations

import copy

import pytest

from pipelines.scripts import data_quality as dq


def found(report: dict) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in report["violations"]}


@pytest.fixture
def baseline(write_csv, make_frame):
    """A baseline of 2000 rows of the standard frame."""
    return dq.compute_baseline(write_csv("baseline.csv", make_frame(2000, seed=1)), header=True)


def check(write_csv, baseline, frame_or_text, name="current.csv", **options):
    statistics, constraints = baseline
    path = write_csv(name, frame_or_text)
    return dq.check_dataset(path, statistics, constraints, header=True, **options)[1]


def test_resampled_copy_has_no_violations(write_csv, make_frame, baseline):
    assert check(write_csv, baseline, make_frame(2000, seed=2))["violations"] == []


def test_data_type_check(write_csv, make_frame, baseline):
    frame = make_frame(2000, seed=2)
    frame["count"] = frame["count"].astype(object)
    frame.loc[frame.index[::2], "count"] = "oops"
    report = check(write_csv, baseline, frame)
    assert found(report) >= {("count", "data_type_check")}
    description = next(v["description"] for v in report["violations"]
                       if v["constraint_check_type"] == "data_type_check")
    assert description == ("Data type match requirement is not met. Expected data type: Integral, Expected match: "
                           "100.0%. Observed: Only 50.0% of data is Integral.")


def test_fractional_values_do_not_match_integral_but_integers_match_fractional(write_csv, make_frame, baseline):
    frame = make_frame(2000, seed=2)
    frame["count"] = frame["count"] + 0.5
    frame["length"] = frame["length"].round().astype(int)
    report = check(write_csv, baseline, frame)
    assert ("count", "data_type_check") in found(report)
    assert ("length", "data_type_check") not in found(report)


def test_completeness_check(write_csv, make_frame, baseline):
    frame = make_frame(2000, seed=2)
    frame.loc[frame.index[:100], "weight"] = None
    report = check(write_csv, baseline, frame)
    assert found(report) == {("weight", "completeness_check")}
    assert report["violations"][0]["description"] == "Value: 0.95 does not meet the constraint requirement! "


def test_missing_and_extra_columns(write_csv, make_frame, baseline):
    frame = make_frame(2000, seed=2).drop(columns=["weight"])
    frame["surprise"] = 1
    report = check(write_csv, baseline, frame)
    assert found(report) == {("weight", "missing_column_check"), ("surprise", "extra_column_check")}
    missing = next(v for v in report["violations"] if v["constraint_check_type"] == "missing_column_check")
    assert "Number of columns in current dataset: 4, Number of columns in baseline constraints: 4" in \
        missing["description"]


def test_categorical_values_check(write_csv, make_frame, baseline):
    frame = make_frame(2000, seed=2)
    frame.loc[frame.index[:20], "colour"] = "purple"
    report = check(write_csv, baseline, frame)
    assert found(report) == {("colour", "categorical_values_check")}
    assert report["violations"][0]["description"] == "Value: 0.99 does not meet the constraint requirement! "


@pytest.mark.parametrize("method", ["Simple", "Robust"])
def test_numeric_drift_detected_on_shifted_copy_only(write_csv, make_frame, baseline, method):
    statistics, constraints = baseline
    constraints = copy.deepcopy(constraints)
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = method
    shifted = make_frame(2000, seed=2, shift=1.0)
    shifted["colour"] = make_frame(2000, seed=2)["colour"]
    report = check(write_csv, (statistics, constraints), shifted)
    assert found(report) == {(name, "baseline_drift_check") for name in ("count", "length", "weight")}
    description = next(v["description"] for v in report["violations"] if v["feature_name"] == "length")
    assert description.startswith("Numerical distance: ")
    assert description.endswith(" exceeds numerical threshold: 0.1")
    resampled = check(write_csv, (statistics, constraints), make_frame(2000, seed=7), name="resampled.csv")
    assert resampled["violations"] == []


@pytest.mark.parametrize("method", ["LInfinity", "ChiSquared"])
def test_categorical_drift_detected_on_shifted_copy_only(write_csv, make_frame, baseline, method):
    statistics, constraints = baseline
    shifted = make_frame(2000, seed=2)
    shifted["colour"] = make_frame(2000, seed=2, category_shares=(0.2, 0.3, 0.5))["colour"]
    report = check(write_csv, baseline, shifted, categorical_drift_method=method)
    assert found(report) == {("colour", "baseline_drift_check")}
    expected_start = "Categorical distance: " if method == "LInfinity" else "Categorical drift: ChiSquared p-value "
    assert report["violations"][0]["description"].startswith(expected_start)
    resampled = check(write_csv, baseline, make_frame(2000, seed=7), name="resampled.csv",
                      categorical_drift_method=method)
    assert resampled["violations"] == []


def test_drift_method_and_threshold_come_from_the_constraints(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    constraints = copy.deepcopy(constraints)
    distribution = constraints["monitoring_config"]["distribution_constraints"]
    distribution["comparison_threshold"] = 0.9  # nothing drifts that far
    distribution["categorical_comparison_threshold"] = 0.9
    shifted = make_frame(2000, seed=2, shift=1.0, category_shares=(0.2, 0.3, 0.5))
    assert check(write_csv, (statistics, constraints), shifted)["violations"] == []
    distribution["categorical_drift_method"] = "ChiSquared"  # p-value far below 0.9: categorical drift again
    assert found(check(write_csv, (statistics, constraints), shifted)) == {("colour", "baseline_drift_check")}


def test_robust_distance_forgives_small_samples(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    small_shift = make_frame(60, seed=2, shift=0.25)
    small_shift["colour"] = "red"
    small_shift = small_shift.drop(columns=["colour"])
    simple = copy.deepcopy(constraints)
    simple["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    simple["features"] = [f for f in simple["features"] if f["name"] != "colour"]
    robust = copy.deepcopy(simple)
    robust["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Robust"
    assert {t for _, t in found(check(write_csv, (statistics, simple), small_shift))} == {"baseline_drift_check"}
    assert check(write_csv, (statistics, robust), small_shift)["violations"] == []


def test_evaluate_constraints_disabled_everywhere_or_per_feature(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    bad = make_frame(2000, seed=2, shift=1.0)
    bad.loc[bad.index[:300], "weight"] = None
    everything_off = copy.deepcopy(constraints)
    everything_off["monitoring_config"]["evaluate_constraints"] = "Disabled"
    assert check(write_csv, (statistics, everything_off), bad)["violations"] == []
    weight_off = copy.deepcopy(constraints)
    next(f for f in weight_off["features"] if f["name"] == "weight")["monitoringConfigOverrides"] = {
        "evaluate_constraints": "Disabled"}
    assert "weight" not in {name for name, _ in found(check(write_csv, (statistics, weight_off), bad))}
    assert ("length", "baseline_drift_check") in found(check(write_csv, (statistics, weight_off), bad))


def test_perform_comparison_disabled_turns_drift_off(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    constraints = copy.deepcopy(constraints)
    constraints["monitoring_config"]["distribution_constraints"]["perform_comparison"] = "Disabled"
    assert check(write_csv, (statistics, constraints), make_frame(2000, seed=2, shift=1.0))["violations"] == []


def test_thresholds_are_required_shares(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    constraints = copy.deepcopy(constraints)
    constraints["monitoring_config"]["datatype_check_threshold"] = 0.4
    constraints["monitoring_config"]["domain_content_threshold"] = 0.5
    frame = make_frame(2000, seed=2)
    frame["count"] = frame["count"].astype(object)
    frame.loc[frame.index[::2], "count"] = "oops"  # 50 % Integral: meets 0.4
    frame.loc[frame.index[:400], "colour"] = "purple"  # 80 % in the domain: meets 0.5
    assert {t for _, t in found(check(write_csv, (statistics, constraints), frame))} <= {"baseline_drift_check"}


def test_missing_monitoring_config_uses_documented_defaults(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    bare = {"version": 0, "features": [{"name": f["name"], "inferred_type": f["inferred_type"]}
                                      for f in constraints["features"]]}
    shifted = make_frame(2000, seed=2, shift=1.0)
    assert {t for _, t in found(check(write_csv, (statistics, bare), shifted))} == {"baseline_drift_check"}


def test_empty_dataset_yields_violations_not_a_crash(write_csv, baseline):
    report = check(write_csv, baseline, "")
    assert found(report) == {(name, "missing_column_check") for name in ("colour", "count", "length", "weight")}
    header_only = check(write_csv, baseline, "colour,count,length,weight\n", name="header.csv")
    assert {t for _, t in found(header_only)} == {"completeness_check"}


def test_header_mismatch_shows_as_missing_and_extra_columns(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    path = write_csv("plain.csv", make_frame(100, seed=2), header=False)
    report = dq.check_dataset(path, statistics, constraints, header=False)[1]
    assert {t for _, t in found(report)} == {"missing_column_check", "extra_column_check"}
    assert len(report["violations"]) == 8


def test_all_null_column_in_current_data(write_csv, make_frame, baseline):
    frame = make_frame(500, seed=2)
    frame["length"] = None
    report = check(write_csv, baseline, frame)
    assert found(report) == {("length", "completeness_check")}


def test_overflowing_categories_still_checked_exactly(write_csv, make_frame, baseline, monkeypatch):
    monkeypatch.setattr(dq, "TRACKED_DISTINCT_LIMIT", 10)
    frame = make_frame(2000, seed=2)
    frame.loc[frame.index[:200], "colour"] = [f"new-{i}" for i in range(200)]
    report = check(write_csv, baseline, frame)
    description = next(v["description"] for v in report["violations"]
                       if v["constraint_check_type"] == "categorical_values_check")
    assert description == "Value: 0.9 does not meet the constraint requirement! "


@pytest.mark.parametrize("mutate, pattern", [
    (lambda c: c["monitoring_config"].update(datatype_check_threshold="high"), "datatype_check_threshold"),
    (lambda c: c["monitoring_config"]["distribution_constraints"].update(comparison_method="Median"),
     "comparison_method: expected one of Robust, Simple"),
    (lambda c: c["monitoring_config"].update(evaluate_constraints="Yes"), "evaluate_constraints"),
    (lambda c: c["features"][0].update(completeness=1.5), r"features\[0\].*completeness"),
    (lambda c: c.update(features="colour"), "'features' must be a list"),
    (lambda c: c["features"][1].update(inferred_type="Decimal"), "inferred_type"),
])
def test_bad_baseline_constraints_are_clear_errors(write_csv, make_frame, baseline, mutate, pattern):
    statistics, constraints = baseline
    constraints = copy.deepcopy(constraints)
    mutate(constraints)
    with pytest.raises(dq.DataQualityError, match=pattern):
        check(write_csv, (statistics, constraints), make_frame(100, seed=2))


def test_bad_baseline_sketch_is_a_clear_error(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    statistics = copy.deepcopy(statistics)
    length = next(f for f in statistics["features"] if f["name"] == "length")
    length["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"] = [["not a number"]]
    with pytest.raises(dq.DataQualityError, match=r"baseline statistics: feature 'length'.*sketch.data"):
        check(write_csv, (statistics, constraints), make_frame(100, seed=2))


def test_baseline_is_validated_before_any_data_is_read(baseline, tmp_path):
    statistics, constraints = baseline
    constraints = copy.deepcopy(constraints)
    constraints["features"][2]["completeness"] = "most"
    with pytest.raises(dq.DataQualityError, match=r"features\[2\] \('length'\).completeness"):
        dq.check_dataset(tmp_path / "not-read-at-all", statistics, constraints, header=True)


def hand_written_baseline(comparison_method: str) -> tuple[dict, dict]:
    """A baseline written the way the analyzer publishes it (version 0.0, a one-level sketch of 1, 2, 3, 4)."""
    statistics = {"version": 0.0, "dataset": {"item_count": 4}, "features": [{
        "name": "x", "inferred_type": "Integral",
        "numerical_statistics": {
            "common": {"num_present": 4, "num_missing": 0}, "mean": 2.5, "sum": 10.0, "std_dev": 1.118, "min": 1.0,
            "max": 4.0, "distribution": {"kll": {
                "buckets": [{"lower_bound": 1.0, "upper_bound": 4.0, "count": 4.0}],
                "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [[1.0, 2.0, 3.0, 4.0]]}}}}}]}
    constraints = {"version": 0.0, "features": [{
        "name": "x", "inferred_type": "Integral", "completeness": 1.0, "num_constraints": {"is_non_negative": True}}],
        "monitoring_config": {"evaluate_constraints": "Enabled", "emit_metrics": "Enabled",
                              "datatype_check_threshold": 1.0, "domain_content_threshold": 1.0,
                              "distribution_constraints": {"perform_comparison": "Enabled",
                                                           "comparison_threshold": 0.1,
                                                           "comparison_method": comparison_method}}}
    return statistics, constraints


def test_hand_written_analyzer_baseline_and_exact_distance(write_csv):
    # 2, 3, 4, 5 against 1, 2, 3, 4: the CDFs differ by 0.25 everywhere between 1 and 5
    report = check(write_csv, hand_written_baseline("linf_simple"), "x\n2\n3\n4\n5\n")
    assert report["violations"] == [{
        "feature_name": "x", "constraint_check_type": "baseline_drift_check",
        "description": "Numerical distance: 0.25 exceeds numerical threshold: 0.1"}]
    # robust: 0.25 - 1.8 * sqrt(8 / 16) < 0, so four values each are far too few to call it drift
    assert check(write_csv, hand_written_baseline("linf_robust"), "x\n2\n3\n4\n5\n")["violations"] == []


def test_feature_override_of_a_threshold(write_csv, make_frame, baseline):
    statistics, constraints = baseline
    constraints = copy.deepcopy(constraints)
    next(f for f in constraints["features"] if f["name"] == "length")["monitoringConfigOverrides"] = {
        "distribution_constraints": {"comparison_threshold": 0.95}}
    shifted = make_frame(2000, seed=2, shift=1.0)
    drifted = {name for name, kind in found(check(write_csv, (statistics, constraints), shifted))
               if kind == "baseline_drift_check"}
    assert drifted == {"count", "weight"}
