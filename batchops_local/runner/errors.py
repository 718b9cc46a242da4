"""Exceptions the runner uses to turn problems into step and execution failure reasons."""

from __future__ import annotations

from typing import Any


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
