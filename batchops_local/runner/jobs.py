"""What every local job shares: a directory standing in for the container's `/opt/ml`, image recognition,
and running the job's process with its output captured in the step log.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchops_local.runner import private_opt_ml, warm_pool
from batchops_local.runner.errors import StepFailed, StepStopped
from batchops_local.runner.logs import StepLog

CONTAINER_BASE = "/opt/ml"
SKLEARN_IMAGE = "sagemaker-scikit-learn"
XGBOOST_IMAGE = "sagemaker-xgboost"
ANALYZER_IMAGE = "sagemaker-model-monitor-analyzer"
SCRIPT_IMAGES = (SKLEARN_IMAGE, XGBOOST_IMAGE)

_CONTAINER_PATH = re.compile(r"(?<![\w/.])/opt/ml(?=/|$|[^\w])")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9\-]+")
_STOP_POLL_SECONDS = 0.2


def image_repository(image_uri: Any) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:1.7-1` -> `sagemaker-xgboost`."""
    text = str(image_uri or "")
    last = text.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0]


def require_image(image_uri: Any, allowed: tuple[str, ...], *, what: str) -> str:
    repository = image_repository(image_uri)
    if repository not in allowed:
        raise StepFailed(f"{what}: image '{image_uri}' has no local implementation (the local runner runs "
                         f"{', '.join(allowed)} here)")
    return repository


def job_name(execution_id: str, step_name: str, *, max_length: int = 63) -> str:
    """A unique SageMaker-valid job name: `<execution id>-<step>-<random>`."""
    suffix = secrets.token_hex(4)
    # Lower case: job ARNs are lower case on SageMaker, so name and ARN agree.
    stem = _NAME_CHARS.sub("-", f"{execution_id[:12]}-{step_name}".lower()).strip("-")
    return f"{stem[: max_length - len(suffix) - 1].rstrip('-')}-{suffix}"


class JobDir:
    """`<step dir>/<job name>/opt_ml` mirrors the container's `/opt/ml`; container paths map into it."""

    def __init__(self, step_directory: Path, name: str):
        self.name = name
        self.root = step_directory / name
        self.opt_ml = self.root / "opt_ml"
        if self.root.exists():
            shutil.rmtree(self.root)
        self.opt_ml.mkdir(parents=True)

    def host_path(self, container_path: Any, *, what: str) -> Path:
        text = str(container_path or "")
        if text != CONTAINER_BASE and not text.startswith(CONTAINER_BASE + "/"):
            raise StepFailed(f"{what}: '{text}' must be a path under {CONTAINER_BASE}/")
        relative = Path(text[len(CONTAINER_BASE):].lstrip("/"))
        if ".." in relative.parts:
            raise StepFailed(f"{what}: '{text}' must not contain '..'")
        return self.opt_ml / relative

    def rewrite(self, text: str) -> str:
        """Container paths inside an argument or environment value point into this job directory."""
        host = str(self.opt_ml)
        return _CONTAINER_PATH.sub(lambda _match: host, text)

    def write_json(self, container_path: str, document: Any) -> Path:
        path = self.host_path(container_path, what="config file")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
        return path

    def failure_message(self, container_path: str) -> str:
        path = self.host_path(container_path, what="failure message")
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace").strip()
        return ""

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def job_process_environment(extra: dict[str, str]) -> dict[str, str]:
    """The runner's environment without any real AWS settings, plus the job's variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base["PYTHONUNBUFFERED"] = "1"
    # On SageMaker a job has its instance's cores to itself; here it shares them with the emulator, the Lambda
    # workers and other jobs. OpenMP threads that spin while they wait then starve each other: one xgboost
    # training of the demo took 23.6 s instead of 0.3 s next to two busy processes on 2 cores (0.4 s passive).
    # Passive waiting keeps every thread and the same results; a job or the caller may still set another policy.
    base.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    base.update(extra)
    return base


def run_job_process(command: list[str], *, job: JobDir, env: dict[str, str], log: StepLog,
                    max_runtime_seconds: float | None, stop_requested: Callable[[], bool]) -> int:
    """Run one job process in the job's directory, with the job's directory as its /opt/ml where the host allows
    (private_opt_ml), streaming its stdout/stderr into the step log; returns the exit code.

    Stops the process (StepStopped) when the execution is asked to stop, and fails the step when it runs
    longer than MaxRuntimeInSeconds.
    """
    log.note(f"$ {' '.join(command)}")
    not_private = private_opt_ml.not_private_reason(job.opt_ml)
    if not_private:
        log.note(f"{CONTAINER_BASE} is not private to this job ({not_private}): only {CONTAINER_BASE} in "
                 "arguments and environment values points at the job's directory")
    process: subprocess.Popen | warm_pool.WarmJob | None = warm_pool.POOL.start(command, cwd=job.root, env=env,
                                                                              opt_ml=job.opt_ml)
    if process is not None:
        log.note(f"process {process.pid} forked by the runtime's warm server (packages imported once; "
                 "batchops_local/runner/warm_pool.py)")
    else:
        process = subprocess.Popen(private_opt_ml.wrap(command, job.opt_ml)[0], cwd=job.root, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    pump = threading.Thread(target=_copy_output, args=(process, log), daemon=True)
    pump.start()
    started = time.monotonic()
    try:
        while True:
            try:
                code = process.wait(timeout=_STOP_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop_requested():
                _end(process)
                raise StepStopped()
            if max_runtime_seconds and time.monotonic() - started > max_runtime_seconds:
                _end(process)
                raise StepFailed(f"job exceeded MaxRuntimeInSeconds ({max_runtime_seconds:g} s) and was stopped")
    finally:
        pump.join(timeout=10)
    log.note(f"exit code {code} after {time.monotonic() - started:.1f} s")
    return code


def _copy_output(process: subprocess.Popen | warm_pool.WarmJob, log: StepLog) -> None:
    assert process.stdout is not None
    for raw in iter(process.stdout.readline, b""):
        log.write(raw.decode("utf-8", errors="replace"))
    process.stdout.close()


def _end(process: subprocess.Popen | warm_pool.WarmJob) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
