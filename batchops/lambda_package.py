"""Deterministic Lambda zips: the same sources always give the same bytes (so Terraform sees no change).

Layout of each zip (handler setting `handler.handler`, or equally `lambdas.<function>.handler.handler`):

    handler.py                    lambdas/<function>/handler.py
    lambdas/__init__.py
    lambdas/shared/...            code the functions share
    lambdas/<function>/...        the function's modules (handler included) and templates
    batchops_core/...             the core modules the function imports (standard library only; never
                                  settings.py, which needs pydantic)
    jinja2/, markupsafe/          vendored as pure Python (notification only), with their licences

boto3 is not vendored: the Lambda Python runtime provides it. Compiled extension files are left out;
markupsafe then uses its pure-Python implementation, and nothing compiled for this machine's Python
can break on the runtime's. Entries are sorted and carry a fixed date and fixed permissions.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = PROJECT_ROOT / "lambdas"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
FILE_MODE = 0o100644  # regular file, rw-r--r--
SOURCE_SUFFIXES = frozenset({".py", ".j2"})
COMPILED_SUFFIXES = frozenset({".so", ".pyd", ".dylib", ".dll", ".c", ".h", ".pyc", ".pyo"})
# What the Lambda Python runtime provides besides the standard library: boto3 and its dependencies.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


CORE_DIR = PROJECT_ROOT / "batchops_core"
# Core modules that may go into a zip: importable with the standard library alone (see batchops_core/__init__.py).
SHIPPABLE_CORE = frozenset({"contracts", "gate_text", "metrics", "results", "s3uri"})


@dataclass(frozen=True)
class LambdaSpec:
    name: str
    vendored: tuple[str, ...]  # distributions copied into the zip
    core: tuple[str, ...]  # batchops_core modules the function imports


LAMBDA_SPECS = (
    LambdaSpec("notification", vendored=("jinja2", "markupsafe"),
               core=("contracts", "gate_text", "metrics", "results", "s3uri")),
    LambdaSpec("approval_trigger", vendored=(), core=("contracts",)),  # boto3 and the standard library only
    LambdaSpec("retrain_trigger", vendored=(), core=("contracts",)),  # boto3 and the standard library only
)


class PackagingError(RuntimeError):
    """A Lambda zip cannot be built (missing sources or vendored packages)."""


def build_lambda_zips(out_dir: Path) -> dict[str, Path]:
    """Build `<out_dir>/<function>.zip` for each of LAMBDA_SPECS; returns name → path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {spec.name: write_zip(out_dir / f"{spec.name}.zip", zip_entries(spec)) for spec in LAMBDA_SPECS}


def zip_entries(spec: LambdaSpec) -> dict[str, bytes]:
    """Archive name → content for one function."""
    function_dir = LAMBDAS_DIR / spec.name
    handler = function_dir / "handler.py"
    if not handler.is_file():
        raise PackagingError(f"{handler} is missing: cannot build the {spec.name} Lambda")
    # The handler also stays inside its package, so "lambdas.<function>.handler.handler" works as well.
    entries = {"handler.py": handler.read_bytes(), "lambdas/__init__.py": (LAMBDAS_DIR / "__init__.py").read_bytes()}
    for source_dir in (LAMBDAS_DIR / "shared", function_dir):
        for path in _source_files(source_dir):
            entries[path.relative_to(PROJECT_ROOT).as_posix()] = path.read_bytes()
    entries.update(core_files(spec))
    for distribution in spec.vendored:
        entries.update(vendored_files(distribution))
    return entries


def core_files(spec: LambdaSpec) -> dict[str, bytes]:
    """batchops_core/__init__.py plus the modules the function imports."""
    unshippable = sorted(set(spec.core) - SHIPPABLE_CORE)
    if unshippable:
        raise PackagingError(f"{spec.name}: batchops_core module(s) {', '.join(unshippable)} need more than the "
                             f"standard library and cannot go into a Lambda zip (shippable: "
                             f"{', '.join(sorted(SHIPPABLE_CORE))})")
    files = {}
    for module in ("__init__", *spec.core):
        path = CORE_DIR / f"{module}.py"
        if not path.is_file():
            raise PackagingError(f"{path} is missing: cannot build the {spec.name} Lambda")
        files[path.relative_to(PROJECT_ROOT).as_posix()] = path.read_bytes()
    return files


def _source_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts
    )


def vendored_files(distribution: str) -> dict[str, bytes]:
    """The pure-Python files of an installed distribution plus its METADATA and licence files."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise PackagingError(f"{distribution} is not installed in {sys.prefix}: cannot vendor it") from None
    files = {}
    for record in dist.files or []:
        path = PurePosixPath(str(record))
        if not _is_vendored(path):
            continue
        location = Path(str(dist.locate_file(record)))
        if not location.is_file():
            raise PackagingError(f"{distribution}: {path} is listed in its RECORD but missing at {location}")
        files[path.as_posix()] = location.read_bytes()
    if not any(name.endswith("/__init__.py") for name in files):
        raise PackagingError(f"{distribution}: no Python package found among its installed files")
    return files


def _is_vendored(path: PurePosixPath) -> bool:
    if "__pycache__" in path.parts or path.suffix in COMPILED_SUFFIXES or path.parts[0] in ("..", "bin"):
        return False
    if path.parts[0].endswith(".dist-info"):
        # Machine-specific records (RECORD, INSTALLER, direct_url.json, WHEEL's platform tag) are left out.
        return path.name == "METADATA" or "licenses" in path.parts or path.name.upper().startswith("LICENSE")
    return True


def write_zip(target: Path, entries: dict[str, bytes]) -> Path:
    """Write the entries in sorted order with fixed metadata; replace the target atomically."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so the permission bits below are honoured
                info.external_attr = FILE_MODE << 16
                archive.writestr(info, entries[name], compresslevel=9)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def link_runtime_packages(target: Path) -> Path:
    """Fill `target` with links to the installed copies of RUNTIME_PROVIDED: with the extracted zip, the
    sys.path of a Lambda container (used to check that a zip imports without this project's environment)."""
    import importlib.util

    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise PackagingError(f"{name} is not installed: it stands in for the Lambda runtime's copy")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = target / source.name
        if not link.exists():
            link.symlink_to(source)
    return target


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
