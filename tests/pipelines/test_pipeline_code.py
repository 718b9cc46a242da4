"""Step-script registry: content-addressed keys, code version, the schema handed to the scripts."""

from __future__ import annotations

import json
import shutil

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
