"""Terraform sees the same settings as Python: every env file resolves to the same values on both sides.

The generated part of terraform/variables.tf (types, optional defaults) and terraform/derived.tf (derived names)
are evaluated by `terraform console` in a scratch module holding only those two files (no provider, no AWS), and
compared with `load_settings(env)`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from batchops_core.settings import DERIVED_NAMES, ENV_DIR, PIPELINE_KEYS, PROJECT_ROOT, Settings, load_settings

TERRAFORM = shutil.which("terraform")
ACCOUNT_ID = "123456789012"
ENV_FILES = sorted(ENV_DIR.glob("*.tfvars"))


def _normalised(value: Any) -> Any:
    """Numbers as floats (Terraform has one number type), everything else as it is."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _resolved_expression() -> str:
    """jsonencode of every variable, derived names replaced by their derived.tf locals."""
    local_of = {("storage", "bucket_name"): "local.bucket_name",
                ("pipelines", "model_package_group"): "local.model_package_group_name",
                **{("pipelines", f"{kind}_name"): f"local.pipeline_names.{kind}"
                   for kind in PIPELINE_KEYS}}
    assert set(local_of) == set(DERIVED_NAMES)
    parts = []
    for name in Settings.model_fields:
        if name == "source_file":
            continue
        derived = {key: local_of[(section, key)] for section, key in DERIVED_NAMES if section == name}
        if derived:
            overrides = ", ".join(f"{key} = {expression}" for key, expression in derived.items())
            parts.append(f"{name} = merge(var.{name}, {{ {overrides} }})")
        else:
            parts.append(f"{name} = var.{name}")
    return "jsonencode({ " + ", ".join(parts) + " })"


@pytest.fixture(scope="module")
def scratch_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if TERRAFORM is None:
        pytest.fail("terraform is not on PATH (the project requires it; see docs/infrastructure.md)")
    module = tmp_path_factory.mktemp("settings-module")
    for name in ("variables.tf", "derived.tf"):
        shutil.copy(PROJECT_ROOT / "terraform" / name, module / name)
    # derived.tf reads the account id main.tf takes from data.aws_caller_identity (no provider here).
    (module / "account.tf").write_text(f'locals {{\n  account_id = "{ACCOUNT_ID}"\n}}\n', encoding="utf-8")
    return module


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.stem)
def test_terraform_resolves_every_env_file_to_the_python_values(scratch_module: Path, env_file: Path):
    # A console over two files with no provider: not a stack operation, so not through batchops.terraform.
    result = subprocess.run([TERRAFORM, "console", "-no-color", f"-var-file={env_file}"], input=_resolved_expression(),
                            cwd=scratch_module, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    terraform_values = json.loads(json.loads(result.stdout))
    python_values = load_settings(env_file).model_dump(mode="json")
    assert _normalised(terraform_values) == _normalised(python_values)


def test_terraform_rejects_a_value_outside_the_generated_choices(scratch_module: Path, tmp_path: Path):
    env_file = tmp_path / "bad.tfvars"
    text = (ENV_DIR / "dev.tfvars").read_text(encoding="utf-8")
    env_file.write_text(text + '\nlambdas = {\n  runtime = "python2.7"\n}\n', encoding="utf-8")
    result = subprocess.run([TERRAFORM, "console", "-no-color", f"-var-file={env_file}"], input="var.lambdas.runtime",
                            cwd=scratch_module, capture_output=True, text=True, timeout=120, check=False)
    # console reports a failed validation on stderr (its exit status stays 0).
    assert "Error: Invalid value for variable" in result.stderr
    assert "lambdas.runtime: one of python3.12, python3.13." in " ".join(result.stderr.split())


@pytest.mark.parametrize("suffix", ["account_id", "region_account"])
def test_terraform_and_python_apply_the_bucket_name_suffix_alike(scratch_module: Path, tmp_path: Path, suffix: str):
    env_file = tmp_path / "suffixed.tfvars"
    text = (ENV_DIR / "dev.tfvars").read_text(encoding="utf-8")
    env_file.write_text(text + f'\nstorage = {{\n  bucket_name_suffix = "{suffix}"\n}}\n', encoding="utf-8")
    result = subprocess.run([TERRAFORM, "console", "-no-color", f"-var-file={env_file}"], input="local.bucket_name",
                            cwd=scratch_module, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    settings = load_settings(env_file)
    expected = {"account_id": f"abalone-dev-data-{ACCOUNT_ID}",
                "region_account": f"abalone-dev-data-{settings.region}-{ACCOUNT_ID}"}[suffix]
    assert json.loads(result.stdout) == settings.for_account(ACCOUNT_ID).bucket == expected


def test_terraform_refuses_an_existing_bucket_without_the_acknowledgement(scratch_module: Path, tmp_path: Path):
    env_file = tmp_path / "existing.tfvars"
    text = (ENV_DIR / "dev.tfvars").read_text(encoding="utf-8")
    env_file.write_text(text + "\nstorage = {\n  create_bucket = false\n}\n", encoding="utf-8")
    result = subprocess.run([TERRAFORM, "console", "-no-color", f"-var-file={env_file}"], input="var.storage",
                            cwd=scratch_module, capture_output=True, text=True, timeout=120, check=False)
    assert "Error: Invalid value for variable" in result.stderr
    assert "existing_bucket_eventbridge_acknowledged = true" in " ".join(result.stderr.split())
