"""EventBridge: rule dispatch to targets (`bus`), target input rules (`input_transform`), schedule rules
(`schedules`). Operations: PutEvents and S3/SageMaker service events → rule targets; scheduled rules.

Importing the package loads no moto; `install` applies the service's patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..patching import Patcher


def install(patcher: Patcher) -> None:
    from . import bus

    bus.install(patcher)
