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
    regression = {m.name for m in metrics.for_problem(metrics.REGRESSION)}
    assert regression == set(SKLEARN)
    assert {m.name for m in metrics.for_problem(metrics.BINARY)} == set(BINARY_SKLEARN)
    assert {m.name for m in metrics.for_problem(metrics.MULTICLASS)} == set(MULTICLASS_SKLEARN)


@pytest.mark.parametrize("name", list(SKLEARN))
def test_each_metric_matches_scikit_learn(arrays, name):
    actual, predicted = arrays
    value, deviation = metrics.get(name).compute(actual, predicted)
    assert abs(value - SKLEARN[name](actual, predicted)) <= 1e-9
    assert deviation >= 0


def test_compute_all_gives_every_metric_of_the_problem_type(arrays):
    actual, predicted = arrays
    computed = metrics.compute_all(metrics.REGRESSION, actual, predicted, required="rmse")
    assert list(computed) == [m.name for m in metrics.for_problem(metrics.REGRESSION)]
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
    with pytest.raises(metrics.MetricError, match="unknown metric 'mad'; known: mse, rmse, mae, mape, r2, f1, "):
        metrics.get("mad")


def test_xgboost_names():
    # Tuning objectives of the built-in algorithm 1.7-1 (sagemaker-xgboost-container, xgb_constants.py).
    assert metrics.get("mape").xgboost_eval_metric == "mape"
    assert metrics.tuning_objective("validation:mape", metrics.REGRESSION).name == "mape"
    regression = {o: m for (p, o), m in metrics.TUNING_OBJECTIVES.items() if p == metrics.REGRESSION}
    assert {name: m.name for name, m in regression.items()} == {
        "validation:mse": "mse", "validation:rmse": "rmse", "validation:mae": "mae", "validation:mape": "mape"}
    assert all(not m.higher_is_better for m in regression.values())
    assert metrics.get("mape").format(0.123456) == "0.1235"


# ------------------------------------------------------------------------------------------ classification

BINARY_SKLEARN = {  # (labels 0/1, probability of 1, decision threshold) -> value
    "f1": lambda y, p, t: sk.f1_score(y, (p >= t).astype(int)),
    "precision": lambda y, p, t: sk.precision_score(y, (p >= t).astype(int)),
    "recall": lambda y, p, t: sk.recall_score(y, (p >= t).astype(int)),
    "accuracy": lambda y, p, t: sk.accuracy_score(y, (p >= t).astype(int)),
    "auc": lambda y, p, t: sk.roc_auc_score(y, p),
    "logloss": lambda y, p, t: sk.log_loss(y, p, labels=[0, 1]),
}
MULTICLASS_SKLEARN = {  # (labels 0..k-1, per-class probabilities) -> value
    "accuracy": lambda y, p: sk.accuracy_score(y, p.argmax(axis=1)),
    "f1_macro": lambda y, p: sk.f1_score(y, p.argmax(axis=1), average="macro"),
    "f1_weighted": lambda y, p: sk.f1_score(y, p.argmax(axis=1), average="weighted"),
    "mlogloss": lambda y, p: sk.log_loss(y, p, labels=list(range(p.shape[1]))),
}


@pytest.fixture(params=[0, 1, 2], ids=["seed0", "seed1", "seed2"])
def binary_arrays(request) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    actual = rng.integers(0, 2, size=400)
    probability = np.clip(0.35 * actual + rng.uniform(0, 0.65, size=400), 0, 1)
    probability[:20] = np.round(probability[:20], 1)  # ties for auc's average ranks
    probability[20], probability[21] = 0.0, 1.0  # probabilities 0 and 1: log loss clips them
    return actual, probability


@pytest.fixture(params=[0, 1, 2], ids=["seed0", "seed1", "seed2"])
def multiclass_arrays(request) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    actual = rng.integers(0, 4, size=400)
    scores = rng.uniform(0, 1, size=(400, 4))
    scores[np.arange(400), actual] += 0.6
    return actual, scores / scores.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.72])
@pytest.mark.parametrize("name", list(BINARY_SKLEARN))
def test_each_binary_metric_matches_scikit_learn(binary_arrays, name, threshold):
    actual, probability = binary_arrays
    value, deviation = metrics.get(name, metrics.BINARY).compute(actual, probability, decision_threshold=threshold)
    assert abs(value - BINARY_SKLEARN[name](actual, probability, threshold)) <= 1e-9
    assert deviation is None or deviation >= 0


@pytest.mark.parametrize("name", list(MULTICLASS_SKLEARN))
def test_each_multiclass_metric_matches_scikit_learn(multiclass_arrays, name):
    actual, probabilities = multiclass_arrays
    value, deviation = metrics.get(name, metrics.MULTICLASS).compute(actual, probabilities)
    assert abs(value - MULTICLASS_SKLEARN[name](actual, probabilities)) <= 1e-9
    assert deviation is None or deviation >= 0


def test_multiclass_f1_averages_over_the_classes_present_like_scikit_learn():
    actual = np.array([0, 0, 1, 1, 0])  # class 2 of 3 never occurs nor is predicted
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.9, 0.05, 0.05]])
    for name in ("f1_macro", "f1_weighted"):
        value, _ = metrics.get(name, metrics.MULTICLASS).compute(actual, probabilities)
        assert abs(value - MULTICLASS_SKLEARN[name](actual, probabilities)) <= 1e-9


def test_compute_all_binary_uses_the_decision_threshold(binary_arrays):
    actual, probability = binary_arrays
    computed = metrics.compute_all(metrics.BINARY, actual, probability, required="f1", decision_threshold=0.3)
    assert list(computed) == list(BINARY_SKLEARN)
    for name, values in computed.items():
        assert abs(values["value"] - BINARY_SKLEARN[name](actual, probability, 0.3)) <= 1e-9


def test_binary_metrics_undefined_without_positives():
    actual, probability = np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3])
    with pytest.raises(metrics.MetricUndefined, match="recall is undefined without positive labels"):
        metrics.get("recall").compute(actual, probability)
    with pytest.raises(metrics.MetricUndefined, match="auc is undefined when every label is the same class"):
        metrics.get("auc").compute(actual, probability)
    assert set(metrics.compute_all(metrics.BINARY, actual, probability)) == {"accuracy", "logloss"}


@pytest.mark.parametrize("problem,actual,predicted,pattern", [
    (metrics.BINARY, [0, 1, 2], [0.1, 0.2, 0.3], "binary metrics need labels 0/1"),
    (metrics.BINARY, [0, 1], [0.1, 1.2], r"class probabilities must lie in \[0, 1\]"),
    (metrics.BINARY, [0, 0.5], [0.1, 0.2], "class indices"),
    (metrics.MULTICLASS, [0, 3], [[0.5, 0.5], [0.5, 0.5]], "multiclass metrics need one row of per-class"),
])
def test_bad_classification_rows_are_metric_errors(problem, actual, predicted, pattern):
    with pytest.raises(metrics.MetricError, match=pattern):
        metrics.compute_all(problem, np.array(actual), np.array(predicted))


def test_accuracy_names_two_metrics_one_per_problem_type():
    assert metrics.problem_types_of("accuracy") == (metrics.BINARY, metrics.MULTICLASS)
    with pytest.raises(metrics.MetricError, match="metric 'accuracy' exists for binary and multiclass problems"):
        metrics.get("accuracy")
    assert metrics.get("accuracy", metrics.BINARY) is not metrics.get("accuracy", metrics.MULTICLASS)
    assert metrics.get("f1").problem_type == metrics.BINARY
    with pytest.raises(metrics.MetricError, match="unknown multiclass metric 'f1'; known: accuracy, f1_macro"):
        metrics.get("f1", metrics.MULTICLASS)


def test_classification_xgboost_names_follow_the_container():
    # sagemaker-xgboost-container 1.7-1: "f1" there is macro-averaged, the binary f1 is "f1_binary".
    assert metrics.get("f1").xgboost_eval_metric == "f1_binary"
    assert metrics.tuning_objective("validation:f1_binary", metrics.BINARY).name == "f1"
    assert metrics.tuning_objective("validation:accuracy", metrics.MULTICLASS).problem_type == metrics.MULTICLASS
    assert metrics.tuning_objective("validation:auc", metrics.BINARY).higher_is_better
    assert not metrics.tuning_objective("validation:mlogloss", metrics.MULTICLASS).higher_is_better
    with pytest.raises(metrics.MetricError, match="'validation:auc' is not a multiclass tuning objective"):
        metrics.tuning_objective("validation:auc", metrics.MULTICLASS)


def test_confusion_matrix_and_per_class_scores_match_scikit_learn(multiclass_arrays):
    actual, probabilities = multiclass_arrays
    decided = metrics.predicted_classes(metrics.MULTICLASS, probabilities)
    matrix = metrics.confusion_matrix(actual, decided, 4)
    assert matrix == sk.confusion_matrix(actual, decided, labels=[0, 1, 2, 3]).tolist()
    precision, recall, f1, support = sk.precision_recall_fscore_support(actual, decided, labels=[0, 1, 2, 3])
    for index, scores in enumerate(metrics.per_class_scores(matrix)):
        assert abs(scores["precision"] - precision[index]) <= 1e-9
        assert abs(scores["recall"] - recall[index]) <= 1e-9
        assert abs(scores["f1"] - f1[index]) <= 1e-9
        assert scores["support"] == support[index]


def test_a_gate_result_names_its_registry_key():
    from batchops_core import results

    summary = results.ClassificationSummary(problem_type=metrics.MULTICLASS, labels=["a", "b", "c"],
                                            confusion_matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], per_class={})
    multiclass = results.StepResult(step="Evaluate", outcome="passed", message="m", metric="accuracy", value=1.0,
                                    details=summary.to_details())
    problem, name = results.gate_metric_key(multiclass)
    assert metrics.get(name, problem) is metrics.get("accuracy", metrics.MULTICLASS)
    regression = results.StepResult(step="Evaluate", outcome="passed", message="m", metric="rmse", value=1.0)
    assert results.gate_metric_key(regression) == (metrics.REGRESSION, "rmse")
