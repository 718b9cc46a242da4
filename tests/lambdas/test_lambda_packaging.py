"""Lambda zips: deterministic bytes, the right contents, and handlers that import from the zip alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from batchops.lambda_package import (
    ZIP_DATE,
    LambdaSpec,
    PackagingError,
    build_lambda_zips,
    core_files,
    link_runtime_packages,
    sha256_of,
)


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict[str, Path]:
    return build_lambda_zips(tmp_path_factory.mktemp("zips"))


def test_building_twice_gives_identical_bytes(zips, tmp_path):
    again = build_lambda_zips(tmp_path / "again")
    assert set(zips) == set(again) == {"notification", "approval_trigger", "retrain_trigger"}
    for name in zips:
        assert zips[name].read_bytes() == again[name].read_bytes(), name


def test_entries_are_sorted_with_fixed_metadata_and_no_compiled_files(zips):
    for name, path in zips.items():
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names), name
        assert "handler.py" in names and "lambdas/shared/claims.py" in names
        assert all(info.date_time == ZIP_DATE and info.external_attr >> 16 == 0o100644 for info in infos)
        assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so", ".c"))]
        assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "sagemaker")], "runtime provides boto3"


def test_notification_zip_vendors_jinja2_and_markupsafe_with_licences(zips):
    with zipfile.ZipFile(zips["notification"]) as archive:
        names = set(archive.namelist())
    assert {"jinja2/__init__.py", "markupsafe/__init__.py", "markupsafe/_native.py"} <= names
    assert "lambdas/notification/templates/body.j2" in names
    assert any(n.startswith("jinja2-") and "LICENSE" in n for n in names)
    assert not any(n.endswith("/RECORD") for n in names)
    assert "lambdas/notification/handler.py" in names, "both handler settings work"
    core = {n for n in names if n.startswith("batchops_core/")}
    assert core == {f"batchops_core/{m}.py" for m in ("__init__", "contracts", "gate_text", "metrics", "results",
                                                    "s3uri")}


def test_settings_needing_pydantic_can_never_be_shipped():
    with pytest.raises(PackagingError, match="batchops_core module.s. settings need more than the standard library"):
        core_files(LambdaSpec("notification", vendored=(), core=("contracts", "settings")))


def test_approval_zip_carries_only_its_own_code(zips):
    with zipfile.ZipFile(zips["approval_trigger"]) as archive:
        names = set(archive.namelist())
    assert "lambdas/approval_trigger/registry.py" in names
    assert not any(n.startswith(("jinja2", "markupsafe", "lambdas/notification")) for n in names)
    assert {n for n in names if n.startswith("batchops_core/")} == {"batchops_core/__init__.py",
                                                                     "batchops_core/contracts.py"}


def run_isolated(zip_path: Path, tmp_path: Path, code: str, env: dict[str, str]) -> dict:
    """Run `code` with no site-packages: only the extracted zip (first) and the runtime's boto3 on sys.path."""
    task = tmp_path / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    runtime = link_runtime_packages(tmp_path / "runtime")
    prelude = f"import sys\nsys.path[:0] = [{str(task)!r}, {str(runtime)!r}]\n"
    clean_env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1", **env}
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=clean_env,
        cwd=tmp_path,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_notification_handler_imports_from_its_zip_alone_and_renders(zips, tmp_path):
    env = {
        "PROJECT": "abalone",
        "ENVIRONMENT": "local",
        "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
        "DEDUP_TABLE": "d",
    }
    result = run_isolated(
        zips["notification"],
        tmp_path,
        """
        import json
        import handler, jinja2, markupsafe
        from lambdas.notification import rules
        try:
            import sagemaker
            sagemaker_importable = True
        except ImportError:
            sagemaker_importable = False
        try:
            import batchops_core.settings
            settings_importable = True
        except ImportError:
            settings_importable = False
        custom = [{"pipeline": "*", "step": "Train", "status": "Failed", "mute": False,
                   "subject": "[{{ environment }}] {{ step }} {{ status }}", "body": ""}]
        loaded, templates = rules.load(json.dumps(custom))
        variables = {name: "" for name in rules.TEMPLATE_VARIABLES}
        variables.update(environment="local", step="Train", status="Failed", pipeline="p", execution_id="e1",
                         console_link="https://console", project="abalone", region="us-east-1")
        subject, body = templates.render(loaded[0], variables)
        event = {"id": "e-1", "detail-type": "SageMaker Model Building Pipeline Execution Step Status Change",
                 "region": "us-east-1", "detail": {
                     "pipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p",
                     "pipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/e1",
                     "stepName": "Train", "stepType": "Training", "currentStepStatus": "Succeeded"}}
        outcome = handler.handler(event, None)
        from batchops_core import results
        from lambdas.notification import gates
        document = results.StepResult(step="Evaluate", outcome="failed", message="m", metric="r2", value=0.4,
                                      threshold=0.5, counts={"rows": 200}).to_json()
        gate = gates.describe(results.parse(document), "registration threshold")
        print(json.dumps({
            "gate": gate, "settings": settings_importable,
            "jinja2": jinja2.__file__, "markupsafe_escape": markupsafe._escape_inner.__module__,
            "escaped": str(markupsafe.escape("<b>")), "sagemaker": sagemaker_importable,
            "subject": subject, "body": body, "outcome": outcome["status"],
            "boto3_loaded": "boto3" in sys.modules,
        }))
        """,
        env,
    )
    assert result["jinja2"].startswith(str(tmp_path / "task"))
    assert result["markupsafe_escape"] == "markupsafe._native", "pure-Python markupsafe, no compiled speedups"
    assert result["escaped"] == "&lt;b&gt;"
    assert result["sagemaker"] is False
    assert result["settings"] is False, "settings.py (pydantic) is never in a zip"
    assert result["gate"] == "r2 0.4000 (must be >= 0.5) on 200 rows (registration threshold)", (
        "registry and results ship")
    assert result["subject"] == "[local] Train Failed"
    assert result["body"].startswith("Step Train of pipeline p failed.")
    assert result["outcome"] == "skipped"
    assert result["boto3_loaded"] is False, "boto3 is imported only when AWS is called"


def test_approval_handler_imports_from_its_zip_alone(zips, tmp_path):
    env = {
        "PROJECT": "abalone",
        "ENVIRONMENT": "local",
        "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
        "DEDUP_TABLE": "d",
        "MODEL_PACKAGE_GROUP": "abalone-local-models",
        "ACTIVE_MODEL_PARAMETER": "/abalone/local/active-model-package-arn",
    }
    result = run_isolated(
        zips["approval_trigger"],
        tmp_path,
        """
        import json
        import boto3, handler
        import lambdas.approval_trigger.handler as packaged
        assert packaged.handler.__code__.co_code == handler.handler.__code__.co_code
        event = {"id": "e-2", "detail-type": "SageMaker Model Package State Change", "detail": {
            "ModelPackageGroupName": "another-group", "ModelApprovalStatus": "Approved",
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/another-group/4"}}
        print(json.dumps({"outcome": handler.handler(event, None), "boto3": boto3.__file__}))
        """,
        env,
    )
    assert result["outcome"]["status"] == "ignored"
    assert "/runtime/boto3/" in result["boto3"]


def test_package_command_prints_paths_and_checksums(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "batchops.cli", "ci", "package-lambdas", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 3
    for line, name in zip(lines, ("notification", "approval_trigger", "retrain_trigger"), strict=True):
        path = tmp_path / f"{name}.zip"
        assert line.split()[0] == name and str(path) in line and sha256_of(path) in line
