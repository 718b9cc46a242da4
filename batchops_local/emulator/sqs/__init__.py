"""SQS: queue encryption attributes as AWS reports them (`encryption`).

Importing the package loads no moto; `install` applies the service's patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..patching import Patcher


def install(patcher: Patcher) -> None:
    from . import encryption

    encryption.install(patcher)
