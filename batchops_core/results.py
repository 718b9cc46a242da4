"""The structured result of a step that decides something (Evaluate, ModelQualityCheck, data quality, ResolveModel).

Each such step writes one small JSON document, `result.json` (contracts.OutputFile.STEP_RESULT), in its
`result` processing output. The Lambdas, the CLI and the report read this document, never a sentence; the
`message` is for people only. Shipped to the step scripts: Python 3.9, standard library only.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

PASSED = "passed"  # the gate held
FAILED = "failed"  # the gate said no (a genuine violation, not an error)
SKIPPED = "skipped"  # nothing to decide (e.g. no ground truth yet)
WARNING = "warning"  # reported, not blocking (e.g. drift with on_drift = "warn")
OUTCOMES = (PASSED, FAILED, SKIPPED, WARNING)


class ResultError(ValueError):
    """A result document that does not follow this schema."""


@dataclass(frozen=True)
class StepResult:
    step: str
    outcome: str
    message: str  # one sentence for people
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    comparison: str | None = None  # ">=" or "<=": how a passing value relates to the threshold
    counts: dict[str, int] = field(default_factory=dict)  # e.g. {"rows": 1000, "matched": 990}
    details: dict[str, Any] = field(default_factory=dict)  # step-specific, small

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ResultError(f"outcome must be one of {', '.join(OUTCOMES)}, found {self.outcome!r}")
        for name in ("value", "threshold"):
            number = getattr(self, name)
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
                raise ResultError(f"{name} must be a number or null, found {number!r}")
        if self.comparison not in (None, ">=", "<="):
            raise ResultError(f"comparison must be '>=' or '<=' or null, found {self.comparison!r}")
        for key, count in self.counts.items():
            if isinstance(count, bool) or not isinstance(count, int):
                raise ResultError(f"counts.{key} must be a whole number, found {count!r}")

    def to_json(self) -> str:
        document = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        for name in ("value", "threshold"):  # JSON has no NaN/inf: keep the document parseable everywhere
            number = document[name]
            if number is not None and not math.isfinite(number):
                document[name] = None
                document["details"] = {**document["details"], f"{name}_not_finite": repr(number)}
        return json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"


def parse(text: str, *, where: str = "result.json") -> StepResult:
    """Read a result document; a malformed one raises ResultError naming `where`."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ResultError(f"{where}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ResultError(f"{where}: expected a JSON object")
    version = document.pop("schema_version", None)
    if version != SCHEMA_VERSION:
        raise ResultError(f"{where}: schema_version {version!r}, this reader understands {SCHEMA_VERSION}")
    try:
        return StepResult(**document)
    except TypeError as exc:
        raise ResultError(f"{where}: {exc}") from None
    except ResultError as exc:
        raise ResultError(f"{where}: {exc}") from None


# ------------------------------------------------------------------------------------------ classification
# A classification gate (Evaluate, ModelQualityCheck) adds this summary to its result under
# details[CLASSIFICATION_KEY]; emails, `batchops runs show`, `batchops models show` and the report render it.

CLASSIFICATION_KEY = "classification"


@dataclass(frozen=True)
class ClassificationSummary:
    problem_type: str  # batchops_core.metrics problem type: "binary" or "multiclass"
    labels: list[str]  # class labels as people read them, in the model's class-index order
    confusion_matrix: list[list[int]]  # rows: actual label, columns: predicted label (order of `labels`)
    per_class: dict[str, dict[str, float]]  # label -> {"precision", "recall", "f1", "support"}
    metrics: dict[str, float] = field(default_factory=dict)  # every registry metric of the problem type
    decision_threshold: float | None = None  # binary: probability at and above which the positive label wins

    def __post_init__(self) -> None:
        size = len(self.labels)
        if len(self.confusion_matrix) != size or any(len(row) != size for row in self.confusion_matrix):
            raise ResultError(f"confusion_matrix must be {size} x {size} for labels {self.labels}")
        unknown = sorted(set(self.per_class) - set(self.labels))
        if unknown:
            raise ResultError(f"per_class names labels not in labels: {unknown}")

    def to_details(self) -> dict[str, Any]:
        return {CLASSIFICATION_KEY: asdict(self)}


def classification_summary(result: StepResult) -> ClassificationSummary | None:
    """The classification summary a gate's result carries, None for a regression gate."""
    document = result.details.get(CLASSIFICATION_KEY)
    if document is None:
        return None
    try:
        return ClassificationSummary(**document)
    except TypeError as exc:
        raise ResultError(f"{result.step}: details.{CLASSIFICATION_KEY}: {exc}") from None


def gate_metric_key(result: StepResult) -> tuple[str, str | None]:
    """(problem type, metric name) of a gate's result: the metric registry's key (batchops_core.metrics.get), as a
    name such as accuracy exists for binary and multiclass; a result without a classification summary is
    regression."""
    from batchops_core.metrics import REGRESSION

    summary = classification_summary(result)
    return (summary.problem_type if summary else REGRESSION), result.metric


# ------------------------------------------------------------------------------------------ resolved model
# ResolveModel's result names the version a batch is scored with and the account it is registered in (a
# consumer's registry account); emails, `batchops runs show` and the report say so with `model_used_text`.

MODEL_ARN_DETAIL = "model_package_arn"
MODEL_VERSION_DETAIL = "model_package_version"
MODEL_GROUP_DETAIL = "model_package_group"
MODEL_ACCOUNT_DETAIL = "account_id"


def model_used_text(result: StepResult) -> str:
    """'version 3 of abalone-dev-models (account 111111111111)'; "" when the result names no version."""
    details = result.details
    version = details.get(MODEL_VERSION_DETAIL)
    if version is None:
        return ""
    account = details.get(MODEL_ACCOUNT_DETAIL)
    text = f"version {version} of {details.get(MODEL_GROUP_DETAIL) or '?'}"
    return f"{text} (account {account})" if account else text
