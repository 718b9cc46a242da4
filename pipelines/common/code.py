"""The step scripts shipped to SageMaker and their content-addressed S3 locations.

A script lives at `s3://<bucket>/<prefixes.code>/<sha256 of file>/<file name>`: the same code always has the
same URI (so definitions stay byte-identical), and new code never overwrites old code.

The core modules the scripts import (contracts, metrics, results, s3uri) are shipped as one package folder,
`s3://<bucket>/<prefixes.code>/<sha256 over the package's files>/batchops_core/<module>.py`, which every
processing step receives as the input `core` at `/opt/ml/processing/input/core/batchops_core`: the scripts import
the very files the rest of the product imports, never a copy.

In script mode (`model.algorithm = "script"`) the model's source directory is shipped the same way, as one
deterministic archive (`s3://<bucket>/<prefixes.code>/<sha256 of the archive>/sourcedir.tar.gz`, the
`sagemaker_submit_directory` of training and the `SAGEMAKER_SUBMIT_DIRECTORY` of serving): what the framework
containers download and unpack into `/opt/ml/code`.

The dataset schema is shipped the same way, as a file rendered from the settings
(`s3://<bucket>/<prefixes.code>/<sha256 of its content>/dataset_schema.json`, the processing input `schema`): an
environment value may hold only 256 characters, a schema of any size fits in a file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import batchops_core
from batchops_core import contracts
from batchops_core.settings import Settings

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
STEP_SCRIPTS = ("preprocess.py", "evaluate.py", "resolve_model.py", "model_quality.py", "publish_predictions.py",
                "label_predictions.py",
                "steplib.py", "data_quality.py")
# Helpers the scripts import; shipped to every step as the processing input `steplib`.
STEP_LIBRARY = "steplib.py"
# Scripts that import nothing of ours (and so run without the `steplib` input).
SELF_CONTAINED_SCRIPTS = ("data_quality.py",)

CORE_DIR = Path(batchops_core.__file__).resolve().parent
CORE_PACKAGE = CORE_DIR.name  # batchops_core
# Standard library only, Python 3.9 (a test imports them with that interpreter). `__init__.py` makes the shipped
# folder a regular package, so it wins over any installed copy placed later on sys.path.
CORE_MODULES = ("__init__.py", "contracts.py", "datasets.py", "metrics.py", "results.py", "s3uri.py")
CORE_INPUT = "core"  # the processing input name; the scripts put its local folder on sys.path


@dataclass(frozen=True)
class StepScript:
    name: str
    path: Path
    sha256: str

    address: str = ""  # the hash in the key: the file's own, or the core package's for a core module

    def key(self, settings: Settings) -> str:
        return f"{settings.prefixes.code}/{self.address or self.sha256}/{self.name}"

    def uri(self, settings: Settings) -> str:
        return f"s3://{settings.bucket}/{self.key(settings)}"

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class RenderedFile:
    """A file rendered from the settings and shipped content-addressed like the scripts."""

    name: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def key(self, settings: Settings) -> str:
        return f"{settings.prefixes.code}/{self.sha256}/{self.name}"

    def uri(self, settings: Settings) -> str:
        return f"s3://{settings.bucket}/{self.key(settings)}"

    def read_bytes(self) -> bytes:
        return self.content


def dataset_schema_json(settings: Settings) -> str:
    """The dataset schema the step scripts read (compact, key order fixed: definitions stay identical)."""
    dataset = settings.dataset
    schema = {
        "header": dataset.header,
        "record_key": dataset.record_key,
        "target": dataset.target,
        "columns": [{"name": c.name, "type": c.type} for c in dataset.columns],
    }
    if settings.model.classes:  # the label encoding of a classification model (class-index order)
        schema["classes"] = settings.model.classes
    return json.dumps(schema, separators=(",", ":"))


def dataset_schema_file(settings: Settings) -> RenderedFile:
    return RenderedFile(contracts.DATASET_SCHEMA_FILE, dataset_schema_json(settings).encode("utf-8"))


SOURCE_ARCHIVE = "sourcedir.tar.gz"  # the name the SageMaker SDK gives an uploaded source directory
_SKIPPED_SOURCE = ("__pycache__", ".pytest_cache")


def source_archive(settings: Settings) -> RenderedFile:
    """The script's source directory as a tar.gz that depends on the files' paths and content only (sorted, no
    times or owners), so that the same code always has the same URI."""
    root = settings.script.source_path
    files = sorted(path for path in root.rglob("*") if path.is_file() and path.suffix != ".pyc"
                   and not any(part in _SKIPPED_SOURCE for part in path.relative_to(root).parts))
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return RenderedFile(SOURCE_ARCHIVE, gzip.compress(tar_bytes.getvalue(), mtime=0))


def step_script(name: str) -> StepScript:
    if name not in STEP_SCRIPTS:
        raise ValueError(f"unknown step script '{name}' (known: {', '.join(STEP_SCRIPTS)})")
    path = SCRIPTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"step script {path} is missing")
    return StepScript(name, path, _sha256(path, path.stat().st_mtime_ns))


def core_modules() -> list[StepScript]:
    """The shipped core modules, named `batchops_core/<module>.py`, all under one hash of the package."""
    files = []
    for name in CORE_MODULES:
        path = CORE_DIR / name
        if not path.is_file():
            raise FileNotFoundError(f"core module {path} is missing")
        files.append((name, path, _sha256(path, path.stat().st_mtime_ns)))
    address = hashlib.sha256("".join(f"{name}:{digest}\n" for name, _, digest in files).encode()).hexdigest()
    return [StepScript(f"{CORE_PACKAGE}/{name}", path, digest, address) for name, path, digest in files]


def core_package_uri(settings: Settings) -> str:
    """The folder holding the shipped core modules (a key prefix ending in `/`)."""
    first = core_modules()[0]
    return first.uri(settings).rsplit("/", 1)[0] + "/"


def all_step_scripts() -> list[StepScript]:
    """The step scripts and the core modules (the code part of what the upsert uploads)."""
    return [*(step_script(name) for name in STEP_SCRIPTS), *core_modules()]


def shipped_files(settings: Settings) -> list[StepScript | RenderedFile]:
    """Everything the upsert uploads: the step scripts, the core modules, the dataset schema and, in script mode,
    the model's source archive."""
    model_code = [source_archive(settings)] if settings.uses_script else []
    return [*all_step_scripts(), dataset_schema_file(settings), *model_code]


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
