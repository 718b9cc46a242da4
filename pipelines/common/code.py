"""The step scripts shipped to SageMaker and their content-addressed S3 locations.

A script lives at `s3://<bucket>/<prefixes.code>/<sha256 of file>/<file name>`: the same code always has the
same URI (so definitions stay byte-identical), and new code never overwrites old code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from batchops_core.settings import Settings

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
STEP_SCRIPTS = ("preprocess.py", "evaluate.py", "resolve_model.py", "model_quality.py", "steplib.py", "data_quality.py")
# Helpers the scripts import; shipped to every step as the processing input `steplib`.
STEP_LIBRARY = "steplib.py"
# Scripts that import nothing of ours (and so run without the `steplib` input).
SELF_CONTAINED_SCRIPTS = ("data_quality.py",)


@dataclass(frozen=True)
class StepScript:
    name: str
    path: Path
    sha256: str

    def key(self, settings: Settings) -> str:
        return f"{settings.prefixes.code}/{self.sha256}/{self.name}"

    def uri(self, settings: Settings) -> str:
        return f"s3://{settings.bucket}/{self.key(settings)}"


def step_script(name: str) -> StepScript:
    if name not in STEP_SCRIPTS:
        raise ValueError(f"unknown step script '{name}' (known: {', '.join(STEP_SCRIPTS)})")
    path = SCRIPTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"step script {path} is missing")
    return StepScript(name, path, _sha256(path, path.stat().st_mtime_ns))


def all_step_scripts() -> list[StepScript]:
    return [step_script(name) for name in STEP_SCRIPTS]


def code_version() -> str:
    """One short hash over every shipped script: registered with each model version."""
    digest = hashlib.sha256()
    for script in all_step_scripts():
        digest.update(f"{script.name}:{script.sha256}\n".encode())
    return digest.hexdigest()[:16]


@cache
def _sha256(path: Path, _mtime_ns: int) -> str:
    # The modification time is part of the cache key so an edited script is hashed again.
    return hashlib.sha256(path.read_bytes()).hexdigest()
