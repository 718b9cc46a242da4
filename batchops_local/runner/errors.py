"""Exceptions the runner uses to turn problems into step and execution failure reasons."""

from __future__ import annotations

from typing import Any

# DescribeTrainingJob / DescribeTransformJob / pipeline step FailureReason: at most 1024 characters (botocore's
# SageMaker service model).
FAILURE_REASON_MAX = 1024
_ELISION = "\n...\n"


def clipped_reason(text: str, limit: int = FAILURE_REASON_MAX) -> str:
    """`text` within the FailureReason limit, keeping its first line (what failed) and its end (the error at the
    bottom of a traceback); the middle gives way."""
    if len(text) <= limit:
        return text
    head = text.split("\n", 1)[0][: limit // 3]
    return head + _ELISION + text[len(text) - (limit - len(head) - len(_ELISION)):]


class DefinitionError(Exception):
    """The definition or the start request cannot be executed (bad parameter, unknown reference, ...).

    Raised before any step starts; the execution fails with this message.
    """


class StepFailed(Exception):
    """A step failed; `reason` becomes the step's FailureReason."""

    def __init__(self, reason: str, *, metadata: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.metadata = metadata


class StepStopped(Exception):
    """The execution was asked to stop while this step was running."""
