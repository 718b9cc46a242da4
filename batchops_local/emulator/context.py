"""The one running emulator of this process.

moto keeps its state in process-wide backends, so one emulator per process is all there can be; the
patches find the launcher's settings and services here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contracts import ExecutionHandler

@dataclass
class EmulatorContext:
    home: Path
    endpoint_url: str
    region: str
    execution_handler: ExecutionHandler | None = None
    # The services' own objects, set by the launcher (server.py). Typed Any so that this module, which every
    # service imports, imports none of them (no package cycle).
    lambda_invoker: Any = None  # awslambda.targets.LambdaInvoker
    outbox: Any = None  # sns.email_outbox.EmailOutbox
    executions: Any = None  # sagemaker.pipeline_executions.ExecutionRegistry
    extras: dict[str, Any] = field(default_factory=dict)


class EmulatorNotRunning(RuntimeError):
    pass


_active: EmulatorContext | None = None
_lock = threading.Lock()


def activate(context: EmulatorContext) -> None:
    global _active
    with _lock:
        if _active is not None:
            raise RuntimeError(
                f"a local AWS emulator is already running in this process at {_active.endpoint_url}; "
                "moto's state is process-wide, so stop that one first"
            )
        _active = context


def deactivate(context: EmulatorContext) -> None:
    global _active
    with _lock:
        if _active is context:
            _active = None


def active() -> EmulatorContext:
    current = _active
    if current is None:
        raise EmulatorNotRunning("the local AWS emulator is not running in this process")
    return current


def active_or_none() -> EmulatorContext | None:
    return _active
