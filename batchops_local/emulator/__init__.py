"""The local AWS emulator: moto 5.2.5 in server mode, extended where the product needs AWS behaviour.

Every moto detail of the project lives in this package. Importing it is cheap: the contract types come
from `contracts` (no moto); the launcher and readers load moto on first use.

    from batchops_local.emulator import Emulator, ExecutionRequest, read_outbox, read_invocation_log
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .contracts import ExecutionHandler, ExecutionRequest, ExecutionSink, client_environment

if TYPE_CHECKING:
    from .awslambda.targets import read_invocation_log
    from .server import Emulator, format_exports
    from .sns.email_outbox import read_outbox

__all__ = [
    "Emulator",
    "ExecutionHandler",
    "ExecutionRequest",
    "ExecutionSink",
    "client_environment",
    "format_exports",
    "read_invocation_log",
    "read_outbox",
]

_LAZY = {
    "Emulator": "server",
    "format_exports": "server",
    "read_outbox": "sns.email_outbox",
    "read_invocation_log": "awslambda.targets",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        from batchops_local import require_local_extra

        require_local_extra()

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
