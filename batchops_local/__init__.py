"""The local harness: an AWS emulator and a SageMaker pipeline runner that stand in for AWS on one machine.

Optional: installed with the `local` extra (`pip install 'batchops[local]'`), which brings moto and the
algorithm libraries the runner needs. The product (`batchops`, `pipelines`, `lambdas`) never needs it on AWS.
Entry points that start the harness call `require_local_extra()` first, so a missing extra is one clear error.
"""

from __future__ import annotations

import importlib.util

# module imported by the harness -> the distribution of the `local` extra that provides it (pyproject.toml)
LOCAL_EXTRA_MODULES = {
    "moto": "moto[server]",
    "flask": "moto[server]",
    "croniter": "croniter",
    "psutil": "psutil",
    "regex": "regex",
    "xgboost": "xgboost-cpu",
}

INSTALL_HINT = "pip install 'batchops[local]'"


class LocalRuntimeError(RuntimeError):
    """A problem of the local harness the user can act on (the CLI shows it as one line)."""


class LocalExtraMissing(LocalRuntimeError, ImportError):
    """The harness's dependencies are not installed (the `local` extra)."""


def missing_local_modules() -> list[str]:
    missing = []
    for module in LOCAL_EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


def require_local_extra(what: str = "the local AWS emulator") -> None:
    """Raise LocalExtraMissing, naming the missing modules and how to install them, unless all are present."""
    missing = missing_local_modules()
    if missing:
        packages = sorted({LOCAL_EXTRA_MODULES[module] for module in missing})
        raise LocalExtraMissing(
            f"{what} needs the optional 'local' extra (missing: {', '.join(packages)}); install it with: {INSTALL_HINT}"
        )
