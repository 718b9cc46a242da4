"""The engine's own test corpus (this folder) run under the runtime of the image that runs it on SageMaker: the
scikit-learn processing image the definitions name (Python 3.9, pandas 1.1.3, numpy 1.24.1 for 1.2-1; see
batchops_local/runner/runtimes.py for the source of each pin). The host's pandas hides version-specific bugs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchops_local.runner import runtimes
from pipelines.common.code import core_modules
from pipelines.common.context import SKLEARN_FRAMEWORK_VERSION

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve()
SHIPPED_CORE_ENV = "BATCHOPS_TEST_SHIPPED_CORE"  # read by conftest.py's shipped_core_modules fixture


@pytest.fixture(scope="module")
def image_python() -> str:
    spec = runtimes.spec_for(f"{runtimes.SKLEARN_IMAGE}:{SKLEARN_FRAMEWORK_VERSION}", what="data-quality engine")
    python = runtimes.ensure_runtime(runtimes.with_packages(spec, runtimes.TEST_PACKAGES))
    if python is None:  # no skip: without the image's Python this check would silently test the host instead
        pytest.fail(f"Python {spec.python} is needed to run the engine's tests in the {spec.image}:{spec.version} "
                    f"runtime (pyenv install {spec.python}, or set BATCHOPS_PYTHON_{spec.python.replace('.', '_')})")
    return str(python)


def test_the_runtime_has_the_image_versions(image_python):
    spec = runtimes.spec_for(f"{runtimes.SKLEARN_IMAGE}:{SKLEARN_FRAMEWORK_VERSION}", what="test")
    probe = subprocess.run([image_python, "-c", "import json, sys, numpy, pandas; print(json.dumps(["
                            "'%d.%d' % sys.version_info[:2], numpy.__version__, pandas.__version__]))"],
                           capture_output=True, text=True, check=True)
    python, numpy, pandas = json.loads(probe.stdout)
    assert python == spec.python
    assert f"numpy=={numpy}" in spec.pins and f"pandas=={pandas}" in spec.pins


def test_engine_corpus_passes_in_the_image_runtime(image_python, tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not the host's options or plugins
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PYTEST"))}
    env["PYTHONPATH"] = str(ROOT)
    env[SHIPPED_CORE_ENV] = json.dumps([[module.name, str(module.path)] for module in core_modules()])
    done = subprocess.run(
        [image_python, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(ROOT), "-q",
         "-p", "no:cacheprovider", "--import-mode=importlib", "--basetemp", str(tmp_path / "base"),
         str(HERE.parent), "--ignore", str(HERE)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"engine tests failed under {image_python}:\n{done.stdout[-6000:]}{done.stderr}"
    assert " passed" in done.stdout and sys.executable not in done.stdout
