"""The quantile sketch, the distances built on it, the chi-square p-value and the distinct-count estimate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.scripts import data_quality as dq


def max_rank_error(sketch: dq.QuantileSketch, values: np.ndarray) -> float:
    items, cumulative = sketch.cdf()
    ordered = np.sort(values)
    probes = np.quantile(values, np.linspace(0, 1, 401))
    exact = np.searchsorted(ordered, probes, side="right") / len(values)
    estimated = dq._rank(items, cumulative, probes) / cumulative[-1]
    return float(np.max(np.abs(exact - estimated)))


def fed_in_blocks(values: np.ndarray, block: int) -> dq.QuantileSketch:
    sketch = dq.QuantileSketch()
    for start in range(0, len(values), block):
        sketch.update(values[start: start + block])
    return sketch


@pytest.mark.parametrize("distribution", ["normal", "exponential", "ascending", "few_values"])
def test_rank_error_is_small_and_weight_exact(distribution):
    rng = np.random.default_rng(42)
    values = {
        "normal": rng.normal(size=300_000),
        "exponential": rng.exponential(size=300_000),
        "ascending": np.arange(300_000, dtype=float),
        "few_values": rng.integers(0, 7, size=300_000).astype(float),
    }[distribution]
    sketch = fed_in_blocks(values, 2048)
    assert sketch.weight == len(values)
    assert max_rank_error(sketch, values) < 0.004
    assert sum(len(level) for level in sketch.levels) < 6 * sketch.k  # bounded, not growing with the input


def test_sketch_size_stays_bounded_as_input_grows():
    rng = np.random.default_rng(0)
    sizes = []
    for n in (100_000, 1_000_000):
        sketch = fed_in_blocks(rng.normal(size=n), dq.NUMERIC_BLOCK_VALUES)
        sizes.append(sum(len(level) for level in sketch.levels))
    assert max(sizes) < 3 * dq.SKETCH_K


def test_merged_halves_describe_the_whole():
    rng = np.random.default_rng(7)
    first, second = rng.normal(0, 1, 150_000), rng.normal(3, 1, 150_000)
    merged = fed_in_blocks(first, 4096)
    merged.merge(fed_in_blocks(second, 4096))
    assert merged.weight == 300_000
    assert max_rank_error(merged, np.concatenate([first, second])) < 0.006


def test_round_trip_through_statistics_data():
    rng = np.random.default_rng(3)
    sketch = fed_in_blocks(rng.normal(size=50_000), 4096)
    rebuilt = dq.QuantileSketch.from_data(sketch.data())
    assert rebuilt.weight == sketch.weight
    assert np.array_equal(rebuilt.cdf()[0], sketch.cdf()[0])
    assert np.array_equal(rebuilt.cdf()[1], sketch.cdf()[1])


def test_numerical_distance_matches_the_exact_ks_statistic_on_small_samples():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([3.0, 4.0, 5.0, 6.0])
    left, right = dq.QuantileSketch(), dq.QuantileSketch()
    left.update(a)
    right.update(b)
    # CDFs differ most at 2: 0.5 vs 0.0
    assert dq.numerical_distance(left, right) == 0.5
    robust = 0.5 - dq.ROBUST_C_ALPHA * math.sqrt(8 / 16)
    assert dq.numerical_distance(left, right, "Robust") == max(0.0, robust) == 0.0
    assert dq.numerical_distance(left, left) == 0.0


def test_categorical_distance_hand_computed():
    baseline = {"a": 50.0, "b": 50.0}
    current = {"a": 20.0, "b": 60.0, "c": 20.0}
    assert dq.categorical_distance(baseline, current) == pytest.approx(0.3)  # "a": 0.5 vs 0.2
    robust = 0.3 - 1.8 * math.sqrt((100 + 100) / (100 * 100))
    assert dq.categorical_distance(baseline, current, "Robust") == pytest.approx(robust)


@pytest.mark.parametrize("statistic, dof, expected", [
    (3.841458820694124, 1, 0.05),  # the familiar 5 % critical value
    (6.634896601021214, 1, 0.01),
    (2.0, 2, math.exp(-1.0)),  # two degrees of freedom: exactly exp(-x / 2)
    (11.0705, 5, 0.05),
    (0.5, 10, 0.9999999),
])
def test_chi_square_survival(statistic, dof, expected):
    assert dq.chi_square_survival(statistic, dof) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_chi_square_p_value_on_identical_and_shifted_shares():
    baseline = {"a": 500.0, "b": 300.0, "c": 200.0}
    assert dq.chi_square_p_value(baseline, {"a": 50, "b": 30, "c": 20}) == pytest.approx(1.0)
    # observed 40/30/30 vs expected 50/30/20: chi2 = 100/50 + 0 + 100/20 = 7 on 2 dof
    assert dq.chi_square_p_value(baseline, {"a": 40, "b": 30, "c": 30}) == pytest.approx(math.exp(-3.5))
    assert dq.chi_square_p_value({"only": 10.0}, {"only": 10}) is None


def test_chi_square_merges_small_expected_categories():
    baseline = {"a": 900.0, "b": 90.0, "rare1": 5.0, "rare2": 5.0}
    # with 100 observations the rare categories expect 0.5 each: merged into "b" before testing
    p_value = dq.chi_square_p_value(baseline, {"a": 90, "b": 9, "rare1": 1})
    assert p_value == pytest.approx(1.0)


def test_hyperloglog_estimate():
    sketch = dq.HyperLogLog()
    values = [f"value-{i}" for i in range(40_000)]
    sketch.add_strings(values[:30_000])
    sketch.add_strings(values[10_000:])  # overlaps count once
    assert sketch.estimate() == pytest.approx(40_000, rel=0.05)
    small = dq.HyperLogLog()
    small.add_strings(["x", "y", "z", "x"])
    assert small.estimate() == 3


def test_hyperloglog_hashes_object_and_arrow_strings_alike():
    texts = ["alpha", "beta", "gamma"]
    as_object = pd.util.hash_array(np.asarray(texts, dtype=object))
    as_series = pd.util.hash_array(np.asarray(pd.Series(texts, dtype="str").tolist(), dtype=object))
    assert np.array_equal(as_object, as_series)


def test_merge_sorted_keeps_every_item_in_order():
    rng = np.random.default_rng(5)
    first, second = np.sort(rng.integers(0, 50, 300).astype(float)), np.sort(rng.integers(0, 50, 200).astype(float))
    assert np.array_equal(dq._merge_sorted(first, second), np.sort(np.concatenate([first, second])))
    assert np.array_equal(dq._merge_sorted(np.empty(0), second), second)
