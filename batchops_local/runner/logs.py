"""Per-execution, per-step records under `<BATCHOPS_HOME>/runs/<execution id>/<step name>/`.

`job.log` holds what the step's jobs printed (stdout and stderr, in order) plus the runner's own notes;
`step.json` records status, times, failure reason, metadata and properties. The CLI reads both.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchops_core.settings import PROJECT_ROOT

JOB_LOG = "job.log"
STEP_RECORD = "step.json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def batchops_home() -> Path:
    """`BATCHOPS_HOME` from the environment, default `<repo>/.local`."""
    return Path(os.environ.get("BATCHOPS_HOME") or PROJECT_ROOT / ".local")


def step_dir(home: Path | str, execution_id: str, step_name: str) -> Path:
    for label, value in (("execution id", execution_id), ("step name", step_name)):
        if not _SAFE_NAME.match(value or ""):
            raise ValueError(f"{label} '{value}' cannot name a directory (letters, digits, '_', '.', '-' only)")
    return Path(home) / "runs" / execution_id / step_name


def read_step_log(home: Path | str, execution_id: str, step_name: str) -> str:
    """The job log of one step of one execution; a clear error when there is none."""
    path = step_dir(home, execution_id, step_name) / JOB_LOG
    if not path.is_file():
        runs = Path(home) / "runs" / execution_id
        if not runs.is_dir():
            raise FileNotFoundError(f"no logs for execution '{execution_id}' under {Path(home) / 'runs'}")
        steps = sorted(p.name for p in runs.iterdir() if (p / JOB_LOG).is_file())
        raise FileNotFoundError(f"no log for step '{step_name}' of execution '{execution_id}' "
                                f"(steps with logs: {', '.join(steps) or 'none'})")
    return path.read_text(encoding="utf-8", errors="replace")


RUNNER_NOTE_PREFIX = "[runner "


def job_output_tail(log_text: str, lines: int = 10) -> list[str]:
    """The last `lines` lines the step's jobs printed (the runner's own notes left out): where a failed script's
    error is, when the step's FailureReason only points at the logs (as SageMaker's processing jobs do)."""
    output = [line for line in log_text.splitlines() if line.strip() and not line.startswith(RUNNER_NOTE_PREFIX)]
    return output[-lines:]


def read_step_record(home: Path | str, execution_id: str, step_name: str) -> dict[str, Any]:
    path = step_dir(home, execution_id, step_name) / STEP_RECORD
    return json.loads(path.read_text(encoding="utf-8"))


class StepLog:
    """Thread-safe append-only `job.log` of one step (tuning jobs write into it concurrently)."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / JOB_LOG
        self._lock = threading.Lock()
        self.path.write_text("", encoding="utf-8")

    def note(self, message: str) -> None:
        """A line from the runner itself (prefixed so it is told apart from job output)."""
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.write(f"{RUNNER_NOTE_PREFIX}{stamp}] {message}\n")

    def write(self, text: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)

    def write_record(self, record: dict[str, Any]) -> None:
        (self.directory / STEP_RECORD).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
