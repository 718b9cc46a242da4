"""The metric registry (batchops_core.metrics): each metric against scikit-learn's implementation, the one
pass/fail rule at its boundary, threshold rules, XGBoost names, and undefined metrics (mape with zero labels)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from batchops_core import metrics

SKLEARN = {
    "mse": sk.mean_squared_error,
    "rmse": lambda actual, predicted: np.sqrt(sk.mean_squared_error(actual, predicted)),
    "mae": sk.mean_absolute_error,
    "mape": sk.mean_absolute_percentage_error,
    "r2": sk.r2_score,
}


@pytest.fixture(params=[0, 1, 2], ids=["seed0", "seed1", "seed2"])
def arrays(request) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    actual = rng.uniform(1, 30, size=500)  # no zero label: every metric is defined
    return actual, actual + rng.normal(0, 2.5, size=500)


def test_every_registered_metric_has_a_reference_implementation():
    assert set(metrics.METRIC_NAMES) == set(SKLEARN)


@pytest.mark.parametrize("name", list(SKLEARN))
def test_each_metric_matches_scikit_learn(arrays, name):
    actual, predicted = arrays
    value, deviation = metrics.get(name).compute(actual, predicted)
    assert abs(value - SKLEARN[name](actual, predicted)) <= 1e-9
    assert deviation >= 0


def test_compute_all_gives_every_metric_of_the_problem_type(arrays):
    actual, predicted = arrays
    computed = metrics.compute_all(metrics.REGRESSION, actual, predicted, required="rmse")
    assert list(computed) == list(metrics.METRIC_NAMES)
    for name, values in computed.items():
        assert abs(values["value"] - SKLEARN[name](actual, predicted)) <= 1e-9


def test_mape_refuses_zero_labels_where_scikit_learn_returns_a_huge_number():
    actual, predicted = np.array([0.0, 2.0, 4.0, 0.0]), np.array([0.5, 2.0, 5.0, 1.0])
    assert sk.mean_absolute_percentage_error(actual, predicted) > 1e14  # divides by machine epsilon
    with pytest.raises(metrics.MetricUndefined, match="mape is undefined when a label is 0: 2 of 4 labels are 0"):
        metrics.get("mape").compute(actual, predicted)
    # Other metrics stay available; mape is left out, unless it is the gate's metric.
    assert "mape" not in metrics.compute_all(metrics.REGRESSION, actual, predicted, required="mae")
    assert "mape" not in metrics.compute_all(metrics.REGRESSION, actual, predicted)
    with pytest.raises(metrics.MetricUndefined):
        metrics.compute_all(metrics.REGRESSION, actual, predicted, required="mape")


def test_r2_refuses_labels_without_variance_where_scikit_learn_says_one():
    actual = np.array([-5.0, -5.0, -5.0])
    assert sk.r2_score(actual, actual) == 1.0  # a "perfect" model on labels that say nothing
    with pytest.raises(metrics.MetricUndefined, match="r2 is undefined when every label is the same: all 3 labels "
                                                      "are -5"):
        metrics.get("r2").compute(actual, actual)
    assert "r2" not in metrics.compute_all(metrics.REGRESSION, actual, actual, required="rmse")


def test_negative_labels_use_their_magnitude_as_scikit_learn_does():
    actual, predicted = np.array([-2.0, 4.0]), np.array([-1.0, 5.0])
    assert metrics.get("mape").compute(actual, predicted)[0] == pytest.approx(
        sk.mean_absolute_percentage_error(actual, predicted), abs=1e-12)


@pytest.mark.parametrize("bad,pattern", [
    ((np.array([]), np.array([])), "no rows"),
    ((np.array([1.0, 2.0]), np.array([1.0])), "2 labels but 1 predictions"),
])
def test_bad_rows_are_metric_errors(bad, pattern):
    with pytest.raises(metrics.MetricError, match=pattern):
        metrics.get("rmse").compute(*bad)


@pytest.mark.parametrize("name,threshold,at,better,worse", [
    ("rmse", 3.0, 3.0, 2.9999, 3.0001),
    ("mse", 9.0, 9.0, 8.0, 9.5),
    ("mae", 2.0, 2.0, 1.0, 2.0000001),
    ("mape", 0.1, 0.1, 0.05, 0.1000001),
    ("r2", 0.8, 0.8, 0.81, 0.7999999),
])
def test_equal_to_the_threshold_passes_and_direction_decides(name, threshold, at, better, worse):
    metric = metrics.get(name)
    assert metric.passes(at, threshold)
    assert metric.passes(better, threshold)
    assert not metric.passes(worse, threshold)
    assert metric.comparison == (">=" if metric.higher_is_better else "<=")
    assert metric.describe_gate(threshold) == f"{name} {metric.comparison} {threshold}"


@pytest.mark.parametrize("name,good,bad,message", [
    ("rmse", 0.001, 0.0, "rmse thresholds must be > 0, found 0.0"),
    ("mape", 0.2, -0.1, "mape thresholds must be > 0, found -0.1"),
    ("r2", 1.0, 1.01, "r2 thresholds must be <= 1, found 1.01"),
    ("r2", -3.0, float("nan"), "r2 thresholds must be finite numbers, found nan"),
    ("mae", 5, True, "mae thresholds must be finite numbers, found True"),
])
def test_threshold_rules(name, good, bad, message):
    metric = metrics.get(name)
    assert metric.threshold_problem(good) is None
    assert metric.threshold_problem(bad) == message


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(metrics.MetricError, match="unknown metric 'mad'; known: mse, rmse, mae, mape, r2"):
        metrics.get("mad")


def test_xgboost_names():
    # Tuning objectives of the built-in algorithm 1.7-1 (sagemaker-xgboost-container, xgb_constants.py).
    assert metrics.get("mape").xgboost_eval_metric == "mape"
    assert metrics.TUNING_OBJECTIVES["validation:mape"].name == "mape"
    assert {name: m.name for name, m in metrics.TUNING_OBJECTIVES.items()} == {
        "validation:mse": "mse", "validation:rmse": "rmse", "validation:mae": "mae", "validation:mape": "mape"}
    assert all(not m.higher_is_better for m in metrics.TUNING_OBJECTIVES.values())
    assert metrics.get("mape").format(0.123456) == "0.1235"
