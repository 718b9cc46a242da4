"""Lambda (named as moto names it: `lambda` is a Python keyword): EventBridge/SNS targets and the Invoke API
run the deployed handler (`targets`) in warm execution environments (`workers`, each running `bootstrap`);
deployment packages in S3 are read as Lambda reads them (`packages`).

Importing the package loads no moto; `install` applies the service's patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..patching import Patcher


def install(patcher: Patcher) -> None:
    from . import packages, targets

    targets.install(patcher)
    packages.install(patcher)
