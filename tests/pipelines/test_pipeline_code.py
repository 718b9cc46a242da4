"""Step-script registry: content-addressed keys, code version, the schema handed to the scripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from step_script_support import OTHER_SCHEMA

from pipelines.common import code
from pipelines.common.context import dataset_schema_json, execution_role_arn


def test_keys_are_content_addressed(local_settings):
    script = code.step_script("preprocess.py")
    assert script.key(local_settings) == f"pipeline-code/{script.sha256}/preprocess.py"
    assert script.uri(local_settings) == f"s3://abalone-local-data/pipeline-code/{script.sha256}/preprocess.py"


def test_an_edited_script_gets_a_new_key_and_code_version(tmp_path, monkeypatch, local_settings):
    copy = tmp_path / "scripts"
    shutil.copytree(code.SCRIPTS_DIR, copy)
    monkeypatch.setattr(code, "SCRIPTS_DIR", copy)
    before_key, before_version = code.step_script("evaluate.py").key(local_settings), code.code_version()
    with (copy / "evaluate.py").open("a") as handle:
        handle.write("\n# changed\n")
    assert code.step_script("evaluate.py").key(local_settings) != before_key
    assert code.code_version() != before_version
    assert code.step_script("preprocess.py").key(local_settings) == code.step_script("preprocess.py").key(
        local_settings)


def test_unknown_and_missing_scripts_are_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown step script 'train.py'"):
        code.step_script("train.py")
    monkeypatch.setattr(code, "SCRIPTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="evaluate.py is missing"):
        code.step_script("evaluate.py")


def test_the_scripts_get_the_configured_schema(other_settings):
    # The generated data of the script tests follows the schema the other-schema pipelines are built with.
    assert json.loads(dataset_schema_json(other_settings)) == OTHER_SCHEMA


def test_role_is_configured_or_the_terraform_one(local_settings):
    assert execution_role_arn(local_settings, "210987654321") == (
        "arn:aws:iam::210987654321:role/abalone-local-sagemaker-execution")
    pipelines = local_settings.pipelines.model_copy(
        update={"execution_role_arn": "arn:aws:iam::111122223333:role/custom"})
    configured = local_settings.model_copy(update={"pipelines": pipelines})
    assert execution_role_arn(configured, "210987654321") == "arn:aws:iam::111122223333:role/custom"


# ------------------------------------------------------------------------------------------ shipped code, Python 3.9


def python39() -> str | None:
    """The processing images' Python: BATCHOPS_PYTHON39, pyenv's 3.9, or python3.9 on PATH."""
    if os.environ.get("BATCHOPS_PYTHON39"):
        return os.environ["BATCHOPS_PYTHON39"]
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        candidates = sorted(Path(root, "versions").glob("3.9.*/bin/python"))
        if candidates:
            return str(candidates[-1])
    return shutil.which("python3.9")


def test_scripts_and_shipped_core_compile_and_import_on_python_39(tmp_path):
    interpreter = python39()
    if interpreter is None:  # CI images without 3.9 cannot run this check; where 3.9 exists it must pass
        pytest.skip("no Python 3.9 interpreter (set BATCHOPS_PYTHON39)")
    files = [script.path for script in code.all_step_scripts()]
    assert any(path.name == "metrics.py" for path in files)
    compiled = subprocess.run([interpreter, "-c", "import sys\n"  # what py_compile does, writing no .pyc
                               "for f in sys.argv[1:]: compile(open(f, encoding='utf-8').read(), f, 'exec')",
                               *map(str, files)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    # The shipped package, alone (no site-packages: -I -S), imports with the standard library only.
    staged = tmp_path / "core"
    for module in code.core_modules():
        (staged / module.name).parent.mkdir(parents=True, exist_ok=True)
        (staged / module.name).write_bytes(module.path.read_bytes())
    probe = (f"import sys; sys.path.insert(0, {str(staged)!r})\n"
             "from batchops_core import contracts, metrics, results, s3uri\n"
             "assert metrics.__file__.startswith(sys.path[0]), metrics.__file__\n"
             "r = results.StepResult(step=contracts.Step.EVALUATE, outcome=results.PASSED, message='m', metric='mape',"
             " value=0.1, threshold=0.2, comparison=metrics.get('mape').comparison, counts={'rows': 3})\n"
             "assert results.parse(r.to_json()) == r\n"
             "print(sys.version_info[:2], s3uri.split_s3_uri('s3://b/k'))")
    imported = subprocess.run([interpreter, "-I", "-S", "-c", probe], capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "(3, 9) ('b', 'k')"


def test_a_script_imports_the_shipped_core_before_any_installed_copy(tmp_path):
    from step_script_support import Job

    job = Job(tmp_path / "job", {})
    job.ship_core()
    (job.input("core") / "batchops_core" / "metrics.py").write_text("raise ImportError('the shipped metrics')\n")
    job.ship_core = lambda: None  # keep the broken copy for this run
    result = job.run("evaluate.py", "--metric", "rmse", "--threshold", "3")
    assert result.returncode == 1 and "the shipped metrics" in result.stderr
