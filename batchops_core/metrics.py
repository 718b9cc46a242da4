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
PROBLEM_TYPES: tuple[str, ...] = (REGRESSION,)

# (actual, predicted) -> (value, standard deviation of the per-row quantity behind the value)
ComputeFn = Callable[[Any, Any], tuple[float, float]]


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


def _positive(value: float) -> bool:
    return value > 0


def _at_most_one(value: float) -> bool:
    return value <= 1


# ------------------------------------------------------------------------------------------ the registry
# XGBoost names: eval_metric values of XGBoost's learning-task parameters; tuning objectives of the SageMaker
# built-in XGBoost algorithm ("Tune an XGBoost model", SageMaker developer guide). For 1.7-1 the objectives are
# "validation:<name>" for each name in XGB_MINIMIZE_METRICS / XGB_MAXIMIZE_METRICS of
# github.com/aws/sagemaker-xgboost-container, branch 1.7-1, src/sagemaker_xgboost_container/constants/
# xgb_constants.py (read by algorithm_mode/metrics.py); "mape" is among the minimize metrics there.

_ENTRIES = (
    Metric("mse", REGRESSION, False, "mean squared error", _mse, None, "validation:mse", "> 0", _positive),
    Metric("rmse", REGRESSION, False, "root mean squared error", _rmse, "rmse", "validation:rmse", "> 0", _positive),
    Metric("mae", REGRESSION, False, "mean absolute error", _mae, "mae", "validation:mae", "> 0", _positive),
    Metric("mape", REGRESSION, False, "mean absolute percentage error", _mape, "mape", "validation:mape", "> 0",
           _positive),
    Metric("r2", REGRESSION, True, "coefficient of determination", _r2, None, None, "<= 1", _at_most_one),
)

METRICS: dict[str, Metric] = {metric.name: metric for metric in _ENTRIES}
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
TUNING_OBJECTIVES: dict[str, Metric] = {m.tuning_objective: m for m in _ENTRIES if m.tuning_objective}


def get(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise MetricError(f"unknown metric '{name}'; known: {', '.join(METRIC_NAMES)}") from None


def for_problem(problem_type: str) -> tuple[Metric, ...]:
    return tuple(metric for metric in _ENTRIES if metric.problem_type == problem_type)


def compute_all(problem_type: str, actual: Any, predicted: Any, *,
                required: str | None = None) -> dict[str, dict[str, float]]:
    """`{name: {"value", "standard_deviation"}}` for every metric of the problem type, in registry order.

    A metric undefined on these labels (MetricUndefined, e.g. mape with a zero label) is left out, unless it is
    `required` (the gate's metric): then its error is raised.
    """
    if required is not None and get(required).problem_type != problem_type:
        raise MetricError(f"metric '{required}' is a {get(required).problem_type} metric, not {problem_type}")
    results = {}
    for metric in for_problem(problem_type):
        try:
            value, deviation = metric.compute(actual, predicted)
        except MetricUndefined:
            if metric.name == required:
                raise
            continue
        results[metric.name] = {"value": value, "standard_deviation": deviation}
    return results
