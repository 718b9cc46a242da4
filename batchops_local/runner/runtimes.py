"""Container-faithful step runtimes: each SageMaker image a definition names runs its code under that image's
Python minor version and pinned package versions, in a virtual environment built from PyPI on first use.

The table below is the one place these facts live; each row names the container repository, branch and files
it was read from. Only the packages the step scripts and the built-in algorithm import are installed (plus
boto3 for scripts that call AWS), at the image's pins.

Interpreters: `BATCHOPS_PYTHON_<major>_<minor>` (a path), then `python<major>.<minor>` on PATH, then a pyenv
root (`$PYENV_ROOT`, `pyenv root`, `~/.pyenv`: `versions/<major>.<minor>.*`). When none exists the runner warns
once and runs the host interpreter; with `CI=true` (or `BATCHOPS_REQUIRE_RUNTIMES=1`) that is an error instead.
Runtimes are cached in the harness's virtual environment (`<venv>/batchops-runtimes/<row key>`), else in
`~/.cache/batchops/runtimes`, or in `BATCHOPS_RUNTIME_CACHE`.
`BATCHOPS_RUNTIMES=host` runs everything with the host interpreter on purpose (a quick local loop only).
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from batchops_local.runner.errors import StepFailed

SKLEARN_IMAGE = "sagemaker-scikit-learn"
XGBOOST_IMAGE = "sagemaker-xgboost"
# Bump to rebuild every runtime (a change in how they are built, not in what they contain).
_BUILD_FORMAT = "1"
_STAMP = ".batchops-runtime.json"


class RuntimeUnavailable(StepFailed):
    """A faithful runtime is required (CI) but cannot be provided."""


@dataclass(frozen=True)
class RuntimeSpec:
    image: str  # ECR repository name
    version: str  # framework version, the image tag's leading part
    python: str  # major.minor
    pins: tuple[str, ...]
    source: str

    @property
    def key(self) -> str:
        """Cache key: a content hash of what the environment contains."""
        text = json.dumps([_BUILD_FORMAT, self.python, sorted(self.pins)])
        return f"{self.image}-{self.version}-py{self.python}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


RUNTIMES: dict[tuple[str, str], RuntimeSpec] = {
    (SKLEARN_IMAGE, "1.2-1"): RuntimeSpec(
        SKLEARN_IMAGE, "1.2-1", "3.9",
        ("numpy==1.24.1", "pandas==1.1.3", "python-dateutil==2.8.1", "boto3==1.28.57", "botocore>=1.31.57,<1.32.0",
         "urllib3==1.26.17", "scikit-learn==1.2.1", "scipy==1.8.0"),
        "aws/sagemaker-scikit-learn-container branch 1.2-1: requirements.txt (pins), "
        "docker/1.2-1/base/Dockerfile.cpu (ARG PYTHON_VERSION=3.9; pip install scikit-learn==1.2.1 for script mode)"),
    # Newer scikit-learn images (the SageMaker SDK's image_uri_config/sklearn.json lists both for processing).
    (SKLEARN_IMAGE, "1.4-2"): RuntimeSpec(
        SKLEARN_IMAGE, "1.4-2", "3.10",
        ("numpy==2.1.0", "pandas==2.3.2", "boto3==1.28.57", "botocore>=1.31.57,<1.32.0", "urllib3==1.26.17"),
        "aws/sagemaker-scikit-learn-container branch v1.4-2: requirements.txt (pins), "
        "docker/1.4-2/base/Dockerfile.cpu (ARG PYTHON_VERSION=3.10)"),
    (SKLEARN_IMAGE, "1.4-2-py312"): RuntimeSpec(
        SKLEARN_IMAGE, "1.4-2-py312", "3.12",
        ("numpy==2.1.0", "pandas==2.3.2", "boto3==1.28.57", "botocore>=1.31.57,<1.32.0", "urllib3==1.26.17"),
        "aws/sagemaker-scikit-learn-container branch release-1.4-2-py312: requirements.txt (pins), "
        "docker/1.4-2-py312/base/Dockerfile.cpu (ARG PYTHON_VERSION=3.12)"),
    (XGBOOST_IMAGE, "1.7-1"): RuntimeSpec(
        XGBOOST_IMAGE, "1.7-1", "3.9",
        ("xgboost==1.7.4", "numpy==1.24.1", "pandas==1.2.4", "python-dateutil==2.8.1", "scipy==1.8.0",
         "boto3==1.17.52", "botocore==1.20.52", "urllib3==1.26.5"),
        "aws/sagemaker-xgboost-container branch 1.7-1: requirements.txt (pins), docker/1.7-1/base/Dockerfile.cpu "
        "(ARG PYTHON_VERSION=3.9, ARG XGBOOST_VERSION=1.7.4)"),
    (XGBOOST_IMAGE, "3.0-5"): RuntimeSpec(
        XGBOOST_IMAGE, "3.0-5", "3.10",
        ("xgboost==3.0.5", "numpy==2.1.0", "pandas==2.2.3", "python-dateutil==2.8.2", "scipy==1.15.0",
         "boto3==1.17.52", "botocore==1.20.52", "urllib3==1.26.5"),
        "aws/sagemaker-xgboost-container branch release-3.0.5: requirements.txt (pins), "
        "docker/3.0-5/base/Dockerfile.cpu (ARG PYTHON_VERSION=3.10, ARG XGBOOST_VERSION=3.0.5; numpy 2.1.0 and "
        "pandas 2.2.3 also pinned there)"),
}

# What the default configuration runs (pipelines' SKLEARN_FRAMEWORK_VERSION, settings' xgboost.framework_version);
# tests/runner/test_runtimes.py checks these against those defaults.
DEFAULT_IMAGES = ((SKLEARN_IMAGE, "1.2-1"), (XGBOOST_IMAGE, "1.7-1"))

# A test runner inside a runtime (tests that run a script's own test corpus under the image's versions);
# pytest 8.3 supports Python 3.8-3.13.
TEST_PACKAGES = ("pytest==8.3.5",)

_lock = threading.Lock()
_warned: set[str] = set()


def image_tag(image_uri: Any) -> tuple[str, str]:
    """`<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:1.7-1` -> (`sagemaker-xgboost`, `1.7-1`)."""
    last = str(image_uri or "").rsplit("/", 1)[-1].split("@", 1)[0]
    repository, _, tag = last.partition(":")
    return repository, tag


def spec_for(image_uri: Any, *, what: str) -> RuntimeSpec:
    """The table row of an image; a tag such as `1.2-1-cpu-py3` matches the `1.2-1` row."""
    repository, tag = image_tag(image_uri)
    # Longest version first: tag `1.4-2-py312-cpu-py3` is the 1.4-2-py312 row, not 1.4-2.
    for (image, version), spec in sorted(RUNTIMES.items(), key=lambda row: -len(row[0][1])):
        if image == repository and (tag == version or tag.startswith(version + "-")):
            return spec
    known = ", ".join(f"{image}:{version}" for image, version in RUNTIMES)
    raise StepFailed(f"{what}: image '{image_uri}' has no runtime in the local table (known: {known}); add its "
                     "row to batchops_local/runner/runtimes.py with the container repository as its source")


def with_packages(spec: RuntimeSpec, extra: tuple[str, ...]) -> RuntimeSpec:
    """The same runtime plus packages the image lacks (e.g. a test runner): a separate, separately cached venv."""
    return replace(spec, version=f"{spec.version}+{'+'.join(p.split('=')[0] for p in extra)}", pins=spec.pins + extra,
                   source=f"{spec.source}; plus {', '.join(extra)} (not in the image)")


def required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("BATCHOPS_REQUIRE_RUNTIMES") == "1"


def cache_root() -> Path:
    configured = os.environ.get("BATCHOPS_RUNTIME_CACHE")
    if configured:
        return Path(configured)
    if sys.prefix != sys.base_prefix:  # the harness's own virtual environment (./run's .venv)
        return Path(sys.prefix) / "batchops-runtimes"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "batchops" / "runtimes"


def find_interpreter(version: str) -> str | None:
    """An interpreter of exactly `version` (major.minor), or None."""
    candidates: list[str] = []
    configured = os.environ.get(f"BATCHOPS_PYTHON_{version.replace('.', '_')}")
    if configured:
        if not _reports_version(configured, version):
            raise RuntimeUnavailable(f"BATCHOPS_PYTHON_{version.replace('.', '_')}='{configured}' is not a Python "
                                     f"{version} interpreter")
        return configured
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    for root in _pyenv_roots():
        # Highest patch release first: versions/3.9.18 before versions/3.9.2.
        found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")),
                       key=_patch_order, reverse=True)
        candidates.extend(found)
    for candidate in candidates:
        if _reports_version(candidate, version):
            return candidate
    return None


def _patch_order(path: str) -> int:
    patch = Path(path).parents[1].name.split(".")[-1]
    return int(patch) if patch.isdigit() else -1


def _pyenv_roots() -> list[str]:
    roots = [os.environ.get("PYENV_ROOT") or ""]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            roots.append(subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=10).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    roots.append(str(Path.home() / ".pyenv"))
    unique = []
    for root in roots:
        if root and root not in unique and os.path.isdir(root):
            unique.append(root)
    return unique


def _reports_version(interpreter: str, version: str) -> bool:
    try:
        shim = subprocess.run([interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return shim.returncode == 0 and shim.stdout.strip() == version


def interpreter_for(image_uri: Any, *, what: str, note: Any = None) -> str:
    """The Python that runs code of this image: its runtime's venv, built on first use.

    Falls back to the host interpreter with a loud warning (once per runtime) when the exact Python is missing,
    unless runtimes are required (CI), where that raises RuntimeUnavailable.
    """
    if os.environ.get("BATCHOPS_RUNTIMES") == "host" and not required():
        return sys.executable
    spec = spec_for(image_uri, what=what)
    return str(ensure_runtime(spec, note=note) or sys.executable)


def ensure_runtime(spec: RuntimeSpec, *, note: Any = None) -> Path | None:
    """The runtime's python, building the venv once per machine; None (after a warning) if not possible."""
    target = cache_root() / spec.key
    python = target / "bin" / "python"
    if _is_built(target, spec):
        return python
    with _lock:  # one builder per process; the file lock below serialises processes
        interpreter = find_interpreter(spec.python)
        if interpreter is None:
            message = (f"Python {spec.python} is not installed, so {spec.image}:{spec.version} code runs on the host "
                       f"Python {sys.version_info.major}.{sys.version_info.minor} instead of the image's "
                       f"Python {spec.python} ({spec.source}). Results may differ from SageMaker. Install Python "
                       f"{spec.python} (pyenv install {spec.python}) or set BATCHOPS_PYTHON_"
                       f"{spec.python.replace('.', '_')}.")
            if required():
                raise RuntimeUnavailable(f"CI requires the faithful runtime: {message}")
            _warn_once(spec.python, message)  # once per missing Python, whichever image asks first
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f"{spec.key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _is_built(target, spec):
                _build(spec, interpreter, target, note)
    return python


def _is_built(target: Path, spec: RuntimeSpec) -> bool:
    stamp = target / _STAMP
    try:
        return json.loads(stamp.read_text(encoding="utf-8")).get("key") == spec.key and \
            (target / "bin" / "python").exists()
    except (OSError, ValueError):
        return False


def _build(spec: RuntimeSpec, interpreter: str, target: Path, note: Any) -> None:
    started = time.monotonic()
    message = f"building runtime {spec.key} (Python {spec.python}: {', '.join(spec.pins)}) once in {target}"
    print(f"==> {message}", file=sys.stderr, flush=True)
    if note:
        note(message)
    if target.exists():
        shutil.rmtree(target)  # a half-built environment from an interrupted build
    steps = [[interpreter, "-m", "venv", str(target)]]
    if spec.pins:
        steps.append([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                      "--only-binary=:all:", *spec.pins])
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise RuntimeUnavailable(f"could not build runtime {spec.key}: {' '.join(command)} failed:\n"
                                     f"{(done.stderr or done.stdout).strip()[-2000:]}")
    seconds = time.monotonic() - started
    (target / _STAMP).write_text(json.dumps({"key": spec.key, "python": spec.python, "pins": list(spec.pins),
                                             "source": spec.source, "build_seconds": round(seconds, 1)}),
                                 encoding="utf-8")
    print(f"==> runtime {spec.key} built in {seconds:.0f} s", file=sys.stderr, flush=True)


def _warn_once(key: str, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    bar = "!" * 100
    print(f"\n{bar}\nWARNING: {message}\n{bar}\n", file=sys.stderr, flush=True)


def build_all(arguments: list[str]) -> int:
    """`python -m batchops_local.runner.runtimes [--defaults] [--test-runner] [image:version ...]`: build (or
    confirm) runtimes, for ./run. --defaults: the images the default configuration names; --test-runner: also
    their variant with pytest (tests that run a script's test corpus in its image)."""
    names = [a for a in arguments if not a.startswith("--")]
    if "--defaults" in arguments or not names:
        names += [f"{image}:{version}" for image, version in DEFAULT_IMAGES]
    specs = [spec_for(name, what="runtime") for name in dict.fromkeys(names)]
    if "--test-runner" in arguments:
        specs += [with_packages(spec, TEST_PACKAGES) for spec in specs if spec.image == SKLEARN_IMAGE]
    for spec in specs:
        started = time.monotonic()
        python = ensure_runtime(spec)
        state = f"ready ({time.monotonic() - started:.1f} s)" if python else "NOT available (host fallback)"
        print(f"runtime {spec.image}:{spec.version}: {state}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(build_all(sys.argv[1:]))
    except StepFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
