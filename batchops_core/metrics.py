"""The metric registry: every metric a quality gate can use, defined once.

Each entry says which problem type it belongs to, its direction, which thresholds make sense, how it is computed
from labels and predictions, which built-in XGBoost `eval_metric` and tuning objective correspond to it, and how
people read it. Configuration checks, evaluation, model quality, the registration gate, HPO objective
validation, notifications and the report all ask this module; adding a metric means adding an entry here.

Step scripts receive this module as a shipped file: it must stay importable on the processing images' Python
(3.9) with the standard library only. numpy is imported inside the compute functions (present in every
processing image; the Lambdas only use the metadata and never import it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REGRESSION = "regression"
BINARY = "binary"
MULTICLASS = "multiclass"
PROBLEM_TYPES: tuple[str, ...] = (REGRESSION, BINARY, MULTICLASS)
CLASSIFICATION: tuple[str, ...] = (BINARY, MULTICLASS)
DEFAULT_DECISION_THRESHOLD = 0.5
# The section of a model-quality statistics document (evaluation.json, registered with a model version) per problem
# type, as SageMaker Model Monitor names them ("Model quality metrics and Amazon CloudWatch monitoring").
STATISTICS_KEYS: dict[str, str] = {REGRESSION: "regression_metrics", BINARY: "binary_classification_metrics",
                                   MULTICLASS: "multiclass_classification_metrics"}
# The built-in XGBoost objective of each classification problem type: the gates need class probabilities, which
# binary:logistic (one per row) and multi:softprob (one per class, with num_class) give; binary:hinge,
# binary:logitraw and multi:softmax do not. Regression refuses the "binary:" and "multi:" objectives.
XGBOOST_OBJECTIVES: dict[str, str] = {BINARY: "binary:logistic", MULTICLASS: "multi:softprob"}

# (actual, predicted) -> (value, standard deviation of the per-row quantity behind the value, None when the metric
# has no per-row quantity, e.g. f1). Regression: actual and predicted are numbers. Classification: actual holds
# class indices (0 .. classes-1); predicted holds the probability of class 1 (binary) or one row of per-class
# probabilities per record (multiclass); binary metrics take the decision threshold as keyword `decision_threshold`.
ComputeFn = Callable[..., tuple[float, "float | None"]]


class MetricError(ValueError):
    """A metric cannot be computed (no rows, unknown metric)."""


class MetricUndefined(MetricError):
    """The metric has no value on these labels (e.g. mape with a zero label); other metrics may still have one."""


@dataclass(frozen=True)
class Metric:
    name: str
    problem_type: str
    higher_is_better: bool
    label: str  # how people read it, e.g. "root mean squared error"
    compute: ComputeFn
    xgboost_eval_metric: str | None  # the built-in algorithm's eval_metric name, None if it has none
    tuning_objective: str | None  # the built-in algorithm's HPO objective metric, None if not tunable
    threshold_rule: str  # human text of the allowed thresholds, e.g. "> 0"
    threshold_ok: Callable[[float], bool]
    decimals: int = 4

    @property
    def comparison(self) -> str:
        """How a passing value relates to the threshold: equal to the threshold passes."""
        return ">=" if self.higher_is_better else "<="

    def passes(self, value: float, threshold: float) -> bool:
        """The one comparison rule of every quality gate: equal to the threshold passes."""
        return value >= threshold if self.higher_is_better else value <= threshold

    def threshold_problem(self, threshold: float) -> str | None:
        """None when `threshold` is a sensible gate for this metric, else what is wrong with it."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            return f"{self.name} thresholds must be finite numbers, found {threshold!r}"
        if not self.threshold_ok(float(threshold)):
            return f"{self.name} thresholds must be {self.threshold_rule}, found {threshold}"
        return None

    def format(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"

    def describe_gate(self, threshold: float) -> str:
        """'rmse <= 3.0' — the rule as people read it."""
        return f"{self.name} {self.comparison} {threshold}"


# ------------------------------------------------------------------------------------------ computations


def _arrays(actual: Any, predicted: Any):
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if actual.size == 0:
        raise MetricError("no rows to compute metrics on")
    if actual.shape != predicted.shape:
        raise MetricError(f"{actual.size} labels but {predicted.size} predictions")
    return np, actual, predicted


def _mse(actual: Any, predicted: Any) -> tuple[float, float]:
    np, actual, predicted = _arrays(actual, predicted)
    squared = (actual - predicted) ** 2
    return float(np.mean(squared)), float(np.std(squared))


def _rmse(actual: Any, predicted: Any) -> tuple[float, float]:
    np, actual, predicted = _arrays(actual, predicted)
    residual = actual - predicted
    return math.sqrt(float(np.mean(residual ** 2))), float(np.std(np.abs(residual)))


def _mae(actual: Any, predicted: Any) -> tuple[float, float]:
    np, actual, predicted = _arrays(actual, predicted)
    absolute = np.abs(actual - predicted)
    return float(np.mean(absolute)), float(np.std(absolute))


def _r2(actual: Any, predicted: Any) -> tuple[float, float]:
    np, actual, predicted = _arrays(actual, predicted)
    residual = actual - predicted
    total = float(np.sum((actual - actual.mean()) ** 2))
    residual_sum = float(np.sum(residual ** 2))
    if not total > 0:  # no variance to explain: any value (scikit-learn says 1.0 or 0.0) would be made up
        raise MetricUndefined(f"r2 is undefined when every label is the same: all {actual.size} labels are "
                              f"{float(actual[0]):.10g}")
    return 1.0 - residual_sum / total, float(np.std(residual))


def _mape(actual: Any, predicted: Any) -> tuple[float, float]:
    """Mean of |actual - predicted| / |actual|, as a fraction (0.1 = 10 %), like scikit-learn and XGBoost.

    A zero label has no percentage error: refused, naming how many there are. (scikit-learn divides by a tiny
    epsilon instead and returns a huge number; XGBoost divides by zero; neither is a usable gate value.)
    """
    np, actual, predicted = _arrays(actual, predicted)
    zeros = int(np.count_nonzero(actual == 0))
    if zeros:
        raise MetricUndefined(f"mape is undefined when a label is 0: {zeros} of {actual.size} labels are 0 "
                              "(choose another metric, e.g. mae, for targets that can be 0)")
    relative = np.abs(actual - predicted) / np.abs(actual)
    return float(np.mean(relative)), float(np.std(relative))


# ------------------------------------------------------------------------------------------ classification


def _classes(actual: Any, predicted: Any, *, binary: bool):
    """(np, class indices, probabilities) checked: whole-number labels, probabilities in [0, 1] of the right shape."""
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if actual.size == 0:
        raise MetricError("no rows to compute metrics on")
    if actual.ndim != 1 or np.any(actual != np.round(actual)) or np.any(actual < 0):
        raise MetricError("classification labels must be class indices 0, 1, ...")
    if binary and (predicted.shape != actual.shape or np.any(actual > 1)):
        raise MetricError(f"binary metrics need labels 0/1 and one probability per row, found {actual.size} labels "
                          f"and predictions of shape {predicted.shape}")
    if not binary and (predicted.ndim != 2 or predicted.shape[0] != actual.size or predicted.shape[1] < 2
                       or np.any(actual >= predicted.shape[1])):
        raise MetricError(f"multiclass metrics need one row of per-class probabilities per label, found "
                          f"{actual.size} labels (largest {int(actual.max())}) and predictions of shape "
                          f"{predicted.shape}")
    if not np.all((predicted >= 0) & (predicted <= 1)):
        raise MetricError("class probabilities must lie in [0, 1]")
    return np, actual.astype(np.int64), predicted


def predicted_classes(problem_type: str, predicted: Any, decision_threshold: float = DEFAULT_DECISION_THRESHOLD):
    """Class indices from probabilities: binary, 1 at and above the decision threshold; multiclass, the most
    probable class (the first one on a tie)."""
    import numpy as np

    predicted = np.asarray(predicted, dtype=np.float64)
    if problem_type == BINARY:
        return (predicted >= decision_threshold).astype(np.int64)
    if problem_type == MULTICLASS:
        return np.argmax(predicted, axis=1).astype(np.int64)
    raise MetricError(f"'{problem_type}' is not a classification problem type")


def confusion_matrix(actual: Any, predicted_class: Any, classes: int) -> list[list[int]]:
    """Rows: actual class, columns: predicted class; both class indices below `classes`."""
    import numpy as np

    cells = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cells, (np.asarray(actual, dtype=np.int64), np.asarray(predicted_class, dtype=np.int64)), 1)
    return cells.tolist()


def per_class_scores(matrix: list[list[int]]) -> list[dict[str, float]]:
    """Per class: precision, recall, f1 and support from a confusion matrix; a score with a zero denominator
    (a class never predicted, or never present) is 0.0, as scikit-learn reports it with zero_division=0."""
    scores = []
    for index, row in enumerate(matrix):
        true_positive = row[index]
        predicted = sum(other[index] for other in matrix)
        support = sum(row)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * true_positive / (predicted + support) if predicted + support else 0.0
        scores.append({"precision": precision, "recall": recall, "f1": f1, "support": support})
    return scores


def _binary_counts(actual: Any, predicted: Any, decision_threshold: float):
    np, actual, predicted = _classes(actual, predicted, binary=True)
    decided = predicted_classes(BINARY, predicted, decision_threshold)
    true_positive = int(np.sum((decided == 1) & (actual == 1)))
    return np, actual, decided, true_positive, int(np.sum(decided == 1)), int(np.sum(actual == 1))


def _accuracy(actual: Any, predicted: Any, *, decision_threshold: float = DEFAULT_DECISION_THRESHOLD):
    np, actual, decided, *_ = _binary_counts(actual, predicted, decision_threshold)
    correct = (decided == actual).astype(np.float64)
    return float(np.mean(correct)), float(np.std(correct))


def _precision(actual: Any, predicted: Any, *, decision_threshold: float = DEFAULT_DECISION_THRESHOLD):
    _, actual, _, true_positive, predicted_positive, _ = _binary_counts(actual, predicted, decision_threshold)
    if not predicted_positive:
        raise MetricUndefined(f"precision is undefined when no row is predicted positive (probability >= "
                              f"{decision_threshold}): none of {actual.size} rows is")
    return true_positive / predicted_positive, None


def _recall(actual: Any, predicted: Any, *, decision_threshold: float = DEFAULT_DECISION_THRESHOLD):
    _, actual, _, true_positive, _, positive = _binary_counts(actual, predicted, decision_threshold)
    if not positive:
        raise MetricUndefined(f"recall is undefined without positive labels: none of {actual.size} rows has one")
    return true_positive / positive, None


def _f1(actual: Any, predicted: Any, *, decision_threshold: float = DEFAULT_DECISION_THRESHOLD):
    _, actual, _, true_positive, predicted_positive, positive = _binary_counts(actual, predicted,
                                                                                decision_threshold)
    if not predicted_positive + positive:
        raise MetricUndefined(f"f1 is undefined without positive labels or predictions: none in {actual.size} rows")
    return 2 * true_positive / (predicted_positive + positive), None


def _auc(actual: Any, predicted: Any, **_: Any):
    """Area under the ROC curve: the chance that a random positive row scores above a random negative one (ties
    count half), computed from average ranks (Mann-Whitney U)."""
    np, actual, predicted = _classes(actual, predicted, binary=True)
    positive = int(np.sum(actual == 1))
    negative = actual.size - positive
    if not positive or not negative:
        raise MetricUndefined(f"auc is undefined when every label is the same class: all {actual.size} rows are "
                              f"class {int(actual[0])}")
    order = np.argsort(predicted, kind="mergesort")
    ordered = predicted[order]
    ranks = np.empty(actual.size, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], actual.size]
    # Tied scores share their average rank (1-based).
    for start, end in zip(starts, ends):  # noqa: B905 (equal lengths; strict= is 3.10+, this runs on 3.9)
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = float(np.sum(ranks[actual == 1]))
    return (rank_sum - positive * (positive + 1) / 2.0) / (positive * negative), None


def _clipped(np: Any, probabilities: Any):
    # Probabilities 0 and 1 would give an infinite loss: clipped by the float64 machine epsilon, like scikit-learn.
    epsilon = np.finfo(np.float64).eps
    return np.clip(probabilities, epsilon, 1 - epsilon)


def _logloss(actual: Any, predicted: Any, **_: Any):
    np, actual, predicted = _classes(actual, predicted, binary=True)
    probability = _clipped(np, predicted)
    losses = -np.where(actual == 1, np.log(probability), np.log(1 - probability))
    return float(np.mean(losses)), float(np.std(losses))


def _multiclass_accuracy(actual: Any, predicted: Any, **_: Any):
    np, actual, predicted = _classes(actual, predicted, binary=False)
    correct = (predicted_classes(MULTICLASS, predicted) == actual).astype(np.float64)
    return float(np.mean(correct)), float(np.std(correct))


def _multiclass_f1(actual: Any, predicted: Any, *, weighted: bool):
    """Per-class f1 over the classes present in the labels or the predictions, averaged equally or by support."""
    np, actual, predicted = _classes(actual, predicted, binary=False)
    decided = predicted_classes(MULTICLASS, predicted)
    matrix = confusion_matrix(actual, decided, predicted.shape[1])
    present = sorted(set(actual.tolist()) | set(decided.tolist()))
    per_class = per_class_scores(matrix)
    if weighted:
        return float(sum(per_class[c]["f1"] * per_class[c]["support"] for c in present) / actual.size), None
    return float(sum(per_class[c]["f1"] for c in present) / len(present)), None


def _f1_macro(actual: Any, predicted: Any, **_: Any):
    return _multiclass_f1(actual, predicted, weighted=False)


def _f1_weighted(actual: Any, predicted: Any, **_: Any):
    return _multiclass_f1(actual, predicted, weighted=True)


def _mlogloss(actual: Any, predicted: Any, **_: Any):
    np, actual, predicted = _classes(actual, predicted, binary=False)
    probabilities = _clipped(np, predicted)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # rows sum to 1, as XGBoost's do
    losses = -np.log(probabilities[np.arange(actual.size), actual])
    return float(np.mean(losses)), float(np.std(losses))


def _positive(value: float) -> bool:
    return value > 0


def _at_most_one(value: float) -> bool:
    return value <= 1


# ------------------------------------------------------------------------------------------ the registry
# XGBoost names: eval_metric values of the SageMaker built-in XGBoost algorithm ("XGBoost hyperparameters" and
# "Tune an XGBoost model", SageMaker developer guide). For 1.7-1 the tuning objectives are "validation:<name>" for
# each name in XGB_MINIMIZE_METRICS / XGB_MAXIMIZE_METRICS of github.com/aws/sagemaker-xgboost-container, branch
# 1.7-1, src/sagemaker_xgboost_container/constants/xgb_constants.py; the names XGBoost itself does not know
# (accuracy, f1_binary, f1_macro, precision, recall, mse, r2, ...) the container computes in
# metrics/custom_metrics.py on class labels (margin > 0, i.e. probability > 0.5). There "f1" is the *macro* f1:
# the binary f1 of the positive class is "f1_binary". f1_weighted has no container counterpart.

_ENTRIES = (
    Metric("mse", REGRESSION, False, "mean squared error", _mse, None, "validation:mse", "> 0", _positive),
    Metric("rmse", REGRESSION, False, "root mean squared error", _rmse, "rmse", "validation:rmse", "> 0", _positive),
    Metric("mae", REGRESSION, False, "mean absolute error", _mae, "mae", "validation:mae", "> 0", _positive),
    Metric("mape", REGRESSION, False, "mean absolute percentage error", _mape, "mape", "validation:mape", "> 0",
           _positive),
    Metric("r2", REGRESSION, True, "coefficient of determination", _r2, None, None, "<= 1", _at_most_one),
    Metric("f1", BINARY, True, "f1 score of the positive class", _f1, "f1_binary", "validation:f1_binary", "<= 1",
           _at_most_one),
    Metric("precision", BINARY, True, "precision of the positive class", _precision, "precision",
           "validation:precision", "<= 1", _at_most_one),
    Metric("recall", BINARY, True, "recall of the positive class", _recall, "recall", "validation:recall", "<= 1",
           _at_most_one),
    Metric("accuracy", BINARY, True, "accuracy", _accuracy, "accuracy", "validation:accuracy", "<= 1",
           _at_most_one),
    Metric("auc", BINARY, True, "area under the ROC curve", _auc, "auc", "validation:auc", "<= 1", _at_most_one),
    Metric("logloss", BINARY, False, "log loss", _logloss, "logloss", "validation:logloss", "> 0", _positive),
    Metric("accuracy", MULTICLASS, True, "accuracy", _multiclass_accuracy, "accuracy", "validation:accuracy",
           "<= 1", _at_most_one),
    Metric("f1_macro", MULTICLASS, True, "macro-averaged f1 score", _f1_macro, "f1_macro", "validation:f1_macro",
           "<= 1", _at_most_one),
    Metric("f1_weighted", MULTICLASS, True, "support-weighted f1 score", _f1_weighted, None, None, "<= 1",
           _at_most_one),
    Metric("mlogloss", MULTICLASS, False, "multiclass log loss", _mlogloss, "mlogloss", "validation:mlogloss",
           "> 0", _positive),
)

# A name may belong to several problem types (accuracy): (problem type, name) is the key.
METRICS: dict[tuple[str, str], Metric] = {(metric.problem_type, metric.name): metric for metric in _ENTRIES}
METRIC_NAMES: tuple[str, ...] = tuple(dict.fromkeys(metric.name for metric in _ENTRIES))
TUNING_OBJECTIVES: dict[tuple[str, str], Metric] = {(m.problem_type, m.tuning_objective): m for m in _ENTRIES
                                                    if m.tuning_objective}
TUNING_OBJECTIVE_NAMES: tuple[str, ...] = tuple(dict.fromkeys(objective for _, objective in TUNING_OBJECTIVES))


def problem_types_of(name: str) -> tuple[str, ...]:
    """The problem types that have a metric called `name` (empty for an unknown name)."""
    return tuple(problem for problem, metric_name in METRICS if metric_name == name)


def get(name: str, problem_type: str | None = None) -> Metric:
    """The metric `name` of `problem_type`; without a problem type, the name must belong to one problem type only."""
    if problem_type is not None:
        try:
            return METRICS[(problem_type, name)]
        except KeyError:
            known = ", ".join(m.name for m in for_problem(problem_type))
            raise MetricError(f"unknown {problem_type} metric '{name}'; known: {known or 'none'}") from None
    problems = problem_types_of(name)
    if not problems:
        raise MetricError(f"unknown metric '{name}'; known: {', '.join(METRIC_NAMES)}")
    if len(problems) > 1:
        raise MetricError(f"metric '{name}' exists for {' and '.join(problems)} problems: name the problem type")
    return METRICS[(problems[0], name)]


def tuning_objective(objective: str, problem_type: str) -> Metric:
    """The registry metric behind a tuning objective such as 'validation:auc' for `problem_type`."""
    try:
        return TUNING_OBJECTIVES[(problem_type, objective)]
    except KeyError:
        known = ", ".join(o for p, o in TUNING_OBJECTIVES if p == problem_type)
        raise MetricError(f"'{objective}' is not a {problem_type} tuning objective; known: {known}") from None


def for_problem(problem_type: str) -> tuple[Metric, ...]:
    return tuple(metric for metric in _ENTRIES if metric.problem_type == problem_type)


def compute_all(problem_type: str, actual: Any, predicted: Any, *, required: str | None = None,
                decision_threshold: float = DEFAULT_DECISION_THRESHOLD) -> dict[str, dict[str, float | None]]:
    """`{name: {"value", "standard_deviation"}}` for every metric of the problem type, in registry order.

    A metric undefined on these labels (MetricUndefined, e.g. mape with a zero label) is left out, unless it is
    `required` (the gate's metric): then its error is raised. `decision_threshold` applies to binary metrics.
    """
    if problem_type not in PROBLEM_TYPES:
        raise MetricError(f"unknown problem type '{problem_type}'; known: {', '.join(PROBLEM_TYPES)}")
    if required is not None:
        get(required, problem_type)
    options = {"decision_threshold": decision_threshold} if problem_type == BINARY else {}
    results = {}
    for metric in for_problem(problem_type):
        try:
            value, deviation = metric.compute(actual, predicted, **options)
        except MetricUndefined:
            if metric.name == required:
                raise
            continue
        results[metric.name] = {"value": value, "standard_deviation": deviation}
    return results
