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
