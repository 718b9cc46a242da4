"""Warm Lambda execution environments: worker subprocesses that import a handler once and serve many events.

As on AWS, an environment belongs to one function version: the pool keys workers by (function ARN, code
sha256, configuration). A new worker starts when none of that key is free and the function is below its
concurrency cap (reserved concurrency when set, else `default_concurrency`); otherwise the invocation waits.
A code or configuration change retires the function's older workers. A worker that times out or dies is
killed (its whole process group) and discarded; idle workers are reaped after `idle_seconds`.

Protocol (see `bootstrap.py`): one JSON request a line on the worker's stdin, one JSON answer a
line on a dedicated pipe; the handler's stdout/stderr go to per-invocation files.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_BOOTSTRAP_SOURCE = (Path(__file__).with_name("bootstrap.py")).read_text(encoding="utf-8")

DEFAULT_CONCURRENCY = 2
DEFAULT_IDLE_SECONDS = 60.0


class ConcurrencyUnavailable(RuntimeError):
    """The function may run no environment at all (reserved concurrency 0)."""


@dataclass
class WorkerAnswer:
    rc: int | None
    result: Any
    cpu_s: float | None
    error: str | None
    stdout: str
    stderr: str
    cold_start: bool
    worker_pid: int
    error_object: dict[str, Any] | None = None  # the runtime's error object (bootstrap.error_object)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything that makes two environments interchangeable."""

    function_arn: str
    code_sha256: str
    handler: str
    code_dir: Path
    environment: dict[str, str] = field(hash=False)
    timeout_seconds: float = 0
    reserved_concurrency: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        configuration = json.dumps([self.handler, self.timeout_seconds, sorted(self.environment.items())])
        return self.function_arn, self.code_sha256, hashlib.sha256(configuration.encode()).hexdigest()


class Worker:
    """One execution environment: a child process with its own scratch directory as HOME and TMPDIR."""

    def __init__(self, spec: WorkerSpec, environment: dict[str, str], scratch: Path):
        self.spec = spec
        self.key = spec.key
        self.scratch = scratch
        self.invocations = 0
        self.idle_since = time.monotonic()
        response_read, response_write = os.pipe()
        try:
            with open(scratch / "environment.log", "ab") as environment_log:  # output outside invocations
                self.process = subprocess.Popen(
                    [sys.executable, "-c", _BOOTSTRAP_SOURCE, str(response_write)],
                    cwd=spec.code_dir,
                    env=environment,
                    stdin=subprocess.PIPE,
                    stdout=environment_log,
                    stderr=environment_log,
                    pass_fds=(response_write,),
                    start_new_session=True,  # its own process group: a kill also ends what the handler started
                )
        except BaseException:
            os.close(response_read)
            raise
        finally:
            os.close(response_write)
        self._responses = response_read
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, request: dict[str, Any], timeout: float) -> WorkerAnswer:
        """Send one event and wait for its answer; on timeout or death the worker is killed."""
        cold = self.invocations == 0
        self.invocations += 1
        number = self.invocations
        stdout_path = self.scratch / f"invocation-{number}.stdout"
        stderr_path = self.scratch / f"invocation-{number}.stderr"
        request = {**request, "stdout_path": str(stdout_path), "stderr_path": str(stderr_path)}
        answer: dict[str, Any] | None = None
        error: str | None = None
        try:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps(request, default=str) + "\n").encode())
            self.process.stdin.flush()
            answer = self._read_answer(time.monotonic() + timeout)
            if answer is None:
                error = f"Task timed out after {timeout:g} seconds"
        except (BrokenPipeError, EOFError, ConnectionResetError):
            pass
        except json.JSONDecodeError as unreadable:  # only the bootstrap writes there: the environment is broken
            error = f"the execution environment sent an unreadable answer: {unreadable}"
        if answer is None:
            self.kill()
            if error is None:
                error = f"Runtime exited with status {self.process.returncode} before answering"
        self.idle_since = time.monotonic()
        output = [_read_and_remove(path) for path in (stdout_path, stderr_path)]
        if answer is None:
            # A worker that died reports its exit status (never 0: no answer is a failure); a timeout None.
            died = None if is_timeout_error(error) else (self.process.returncode or None)
            return WorkerAnswer(died, None, None, error, *output, cold_start=cold, worker_pid=self.pid)
        rc = answer["rc"]
        if answer.get("init_failed"):
            self.kill()  # the environment's init failed: the next event gets a fresh one
        failure = None if rc == 0 else f"handler exited with status {rc}"
        return WorkerAnswer(rc, answer.get("result"), answer.get("cpu_s"), failure, *output, cold, self.pid,
                            error_object=answer.get("error"))

    def _read_answer(self, deadline: float) -> dict[str, Any] | None:
        """The next answer line; None on timeout; EOFError when the worker is gone."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._responses], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._responses, 65536)
            if not chunk:
                raise EOFError("the worker closed its answer pipe")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def kill(self) -> None:
        """End the worker's process group (by its own pid) and wait for it.

        Until the worker is reaped (returncode set) its pid, and so its group id, cannot be reused; a crashed
        worker's group is still killed, so processes the handler started go too.
        """
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()

    def close(self) -> None:
        self.kill()
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        if self._responses >= 0:
            os.close(self._responses)
            self._responses = -1
        shutil.rmtree(self.scratch, ignore_errors=True)


def is_timeout_error(error: str | None) -> bool:
    return (error or "").startswith("Task timed out")


def _read_and_remove(path: Path) -> str:
    try:
        text = path.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""
    path.unlink(missing_ok=True)
    return text


class WorkerPool:
    """Warm workers per function, at most the function's concurrency at a time, reaped when idle."""

    def __init__(
        self,
        *,
        default_concurrency: int = DEFAULT_CONCURRENCY,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
    ):
        if default_concurrency < 1:
            raise ValueError(f"default_concurrency must be at least 1, got {default_concurrency}")
        if idle_seconds <= 0:
            raise ValueError(f"idle_seconds must be positive, got {idle_seconds}")
        self.default_concurrency = default_concurrency
        self.idle_seconds = idle_seconds
        self._condition = threading.Condition()
        self._idle: dict[tuple[str, str, str], list[Worker]] = {}
        self._busy: set[Worker | _Reservation] = set()
        self._latest_key: dict[str, tuple[str, str, str]] = {}  # function ARN -> key of its current version
        self._closed = False
        self._reaper = threading.Thread(target=self._reap_idle_workers, name="lambda-worker-reaper", daemon=True)
        self._reaper.start()

    def run(self, spec: WorkerSpec, environment: dict[str, str], request: dict[str, Any], timeout: float):
        """One invocation on a warm worker of `spec` (started if needed); waits while the function is at its cap."""
        worker = self._acquire(spec, environment)
        try:
            return worker.invoke(request, timeout)
        finally:
            self._release(worker)

    def live_workers(self) -> list[Worker]:
        with self._condition:
            busy = [worker for worker in self._busy if isinstance(worker, Worker)]
            return [*busy, *(worker for idle in self._idle.values() for worker in idle)]

    def _acquire(self, spec: WorkerSpec, environment: dict[str, str]) -> Worker:
        cap = self.default_concurrency if spec.reserved_concurrency is None else spec.reserved_concurrency
        if cap < 1:
            raise ConcurrencyUnavailable(f"Rate exceeded: function {spec.function_arn} has reserved concurrency {cap}")
        retired: list[Worker] = []
        try:
            with self._condition:
                retired += self._retire_older_versions(spec)
                while True:
                    if self._closed:
                        raise RuntimeError("the emulator is stopping; no new Lambda environments")
                    idle = self._idle.get(spec.key)
                    while idle and not idle[-1].alive:  # died while idle (killed from outside): never hand it out
                        retired.append(idle.pop())
                    if idle:
                        worker = idle.pop()  # the most recently used one
                        self._busy.add(worker)
                        return worker
                    if self._count(spec.function_arn) < cap:
                        # Holds the function's slot while the process starts, so no other caller takes it.
                        reservation = _Reservation(spec)
                        self._busy.add(reservation)
                        break
                    self._condition.wait()
        finally:
            for stale in retired:
                stale.close()
        return self._start(spec, environment, reservation)

    def _start(self, spec: WorkerSpec, environment: dict[str, str], reservation: _Reservation) -> Worker:
        try:
            scratch = Path(tempfile.mkdtemp(prefix="batchops-lambda-env-"))
            worker = Worker(spec, {**environment, "HOME": str(scratch), "TMPDIR": str(scratch)}, scratch)
        except BaseException:
            with self._condition:
                self._busy.discard(reservation)
                self._condition.notify_all()
            raise
        with self._condition:
            self._busy.discard(reservation)
            self._busy.add(worker)
        return worker

    def _release(self, worker: Worker) -> None:
        with self._condition:
            self._busy.discard(worker)
            keep = worker.alive and not self._closed and self._latest_key.get(worker.spec.function_arn) == worker.key
            if keep:
                worker.idle_since = time.monotonic()
                self._idle.setdefault(worker.key, []).append(worker)
            self._condition.notify_all()
        if not keep:
            worker.close()

    def _retire_older_versions(self, spec: WorkerSpec) -> list[Worker]:
        """Under the lock: a new code or configuration makes the function's idle workers of other keys stale."""
        previous = self._latest_key.get(spec.function_arn)
        self._latest_key[spec.function_arn] = spec.key
        if previous is None or previous == spec.key:
            return []
        return self._idle.pop(previous, [])

    def _count(self, function_arn: str) -> int:
        busy = sum(1 for worker in self._busy if worker.spec.function_arn == function_arn)
        idle = sum(len(workers) for key, workers in self._idle.items() if key[0] == function_arn)
        return busy + idle

    def _reap_idle_workers(self) -> None:
        while True:
            with self._condition:
                if self._closed:
                    return
                self._condition.wait(timeout=min(1.0, self.idle_seconds / 2))
                now = time.monotonic()
                expired = []
                for key, workers in list(self._idle.items()):
                    expired += [worker for worker in workers if now - worker.idle_since >= self.idle_seconds]
                    workers[:] = [worker for worker in workers if now - worker.idle_since < self.idle_seconds]
                    if not workers:
                        del self._idle[key]
                if expired:
                    self._condition.notify_all()  # room for a waiting invocation of the same function
            for worker in expired:
                worker.close()

    def stop_all(self, *, closing: bool = False) -> None:
        """Kill every worker (busy ones too: their invocations fail); with `closing`, start no new ones."""
        with self._condition:
            if closing:
                self._closed = True
            idle = [worker for workers in self._idle.values() for worker in workers]
            busy = [worker for worker in self._busy if isinstance(worker, Worker)]
            self._idle.clear()
            self._latest_key.clear()  # so a busy worker is not put back as idle when it is released
            self._condition.notify_all()
        for worker in busy:
            worker.kill()  # its invocation's release closes it
        for worker in idle:
            worker.close()
        if closing:
            self._reaper.join(timeout=5)


class _Reservation:
    """A worker being started: holds its function's concurrency slot until the process exists."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
