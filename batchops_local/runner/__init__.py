"""The local pipeline runner: executes a stored SageMaker pipeline definition on this machine by the
SageMaker contracts, so the same definitions and step scripts run unchanged on AWS.

The emulator calls `handle_execution(request, sink)` on a worker thread when an execution starts
(request/sink per docs/architecture.md). Logs: `read_step_log(home, execution_id, step_name)`.

Imports are lazy: job processes such as `python -m batchops_local.runner.xgboost_algorithm` load this package
and must not pay for boto3 and the executor.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

__all__ = ["handle_execution", "read_step_log", "read_step_record", "batchops_home"]

_log = logging.getLogger(__name__)


def handle_execution(request: Any, sink: Any, *, home: Path | None = None) -> str:
    """Run one execution to its end and return the final status (Succeeded / Failed / Stopped).

    Never raises: an unexpected error fails the execution with the error as its FailureReason, so an
    execution can never stay `Executing` forever.
    """
    try:
        from batchops_local.runner.executor import ExecutionRun
        from batchops_local.runner.steps import STEP_HANDLERS

        return ExecutionRun(request, sink, STEP_HANDLERS, home=home).run()
    except Exception as exc:
        _log.error("pipeline execution %s crashed:\n%s", getattr(request, "execution_arn", "?"),
                   traceback.format_exc())
        try:
            sink.execution_status(request.execution_arn, "Failed", f"local runner error: {type(exc).__name__}: {exc}")
        except Exception:
            _log.exception("could not report the failure of %s", getattr(request, "execution_arn", "?"))
        return "Failed"


def __getattr__(name: str) -> Any:
    if name in ("read_step_log", "read_step_record", "batchops_home"):
        from batchops_local.runner import logs

        return getattr(logs, name)
    raise AttributeError(f"module 'batchops_local.runner' has no attribute '{name}'")
