"""KMS: cross-account use of a key allowed only by its key policy (`key_policies`).

Importing the package loads no moto; `install` applies the service's patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..patching import Patcher


def install(patcher: Patcher) -> None:
    from . import key_policies

    key_policies.install(patcher)
