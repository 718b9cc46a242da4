"""Files generated from the core's single definitions, so that HCL, templates and docs never retype a fact.

`write_all()` regenerates them (`batchops dev regenerate`); `stale()` lists those that differ from what the
core says now, and a test fails on any. Each entry: the path in the repository and the function that renders it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from batchops_core import contracts
from batchops_core.settings import PROJECT_ROOT


def _contracts_json() -> str:
    return json.dumps(contracts.export(), indent=2, sort_keys=True) + "\n"


GENERATED: dict[str, Callable[[], str]] = {
    "terraform/contracts.json": _contracts_json,
}


def stale(root: Path = PROJECT_ROOT) -> list[str]:
    """Generated files whose content differs from what their renderer produces now (missing ones included)."""
    out = []
    for relative, render in GENERATED.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != render():
            out.append(relative)
    return out


def write_all(root: Path = PROJECT_ROOT) -> list[str]:
    """Rewrite every stale generated file; returns the paths written."""
    written = []
    for relative in stale(root):
        (root / relative).write_text(GENERATED[relative](), encoding="utf-8")
        written.append(relative)
    return written
