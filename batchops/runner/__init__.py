"""The local pipeline runner: executes a stored SageMaker pipeline definition on this machine by the
SageMaker contracts, so the same definitions and step scripts run unchanged on AWS.

The emulator calls `handle_execution(request, sink)` on a worker thread when an execution starts
(request/sink per docs/architecture.md). Logs: `read_step_log(home, execution_id, step_name)`.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from batchops.runner.executor import ExecutionRun, ExecutionSink
from batchops.runner.logs import batchops_home, read_step_log, read_step_record

__all__ = ["handle_execution", "read_step_log", "read_step_record", "batchops_home", "ExecutionSink"]

_log = logging.getLogger(__name__)


def handle_execution(request: Any, sink: ExecutionSink, *, home: Path | None = None) -> str:
    """Run one execution to its end and return the final status (Succeeded / Failed / Stopped).

    Never raises: an unexpected error fails the execution with the error as its FailureReason, so an
    execution can never stay `Executing` forever.
    """
    from batchops.runner.steps import STEP_HANDLERS

    try:
        return ExecutionRun(request, sink, STEP_HANDLERS, home=home).run()
    except Exception as exc:
        _log.error("pipeline execution %s crashed:\n%s", getattr(request, "execution_arn", "?"),
                   traceback.format_exc())
        try:
            sink.execution_status(request.execution_arn, "Failed", f"local runner error: {type(exc).__name__}: {exc}")
        except Exception:
            _log.exception("could not report the failure of %s", getattr(request, "execution_arn", "?"))
        return "Failed"
