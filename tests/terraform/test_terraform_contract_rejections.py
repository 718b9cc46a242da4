"""Terraform's calls go through the emulator's request checks: a resource AWS would refuse fails `apply` here."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from batchops.terraform import Terraform, TerraformError
from batchops_core.settings import Settings
from batchops_local.runtime import start_local_aws

pytestmark = pytest.mark.slow

MODULE = """
provider "aws" {
  region = "us-east-1"
}

resource "aws_iam_role" "fn" {
  name = "contract-rejection"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }]
  })
}

resource "aws_lambda_function" "fn" {
  function_name = "contract-rejection"
  role          = aws_iam_role.fn.arn
  runtime       = "python3.12"
  handler       = "h.handler"
  filename      = "ZIP_PATH"
  environment {
    variables = { BIG = "BIG_VALUE" }
  }
}
"""


def test_a_5_kb_lambda_environment_fails_terraform_apply(tmp_path: Path, local_settings: Settings) -> None:
    module = tmp_path / "module"
    module.mkdir()
    archive = tmp_path / "fn.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("h.py", "def handler(event, context):\n    return event\n")
    (module / "main.tf").write_text(MODULE.replace("ZIP_PATH", str(archive)).replace("BIG_VALUE", "x" * 5 * 1024))
    with start_local_aws(tmp_path / "home", load_aws_managed_policies=False) as aws:
        terraform = Terraform(local_settings, home=tmp_path / "home", endpoint_env=aws.env(), module_dir=module)
        with pytest.raises(TerraformError) as excinfo:
            terraform.apply()
        functions = aws.client("lambda").list_functions()["Functions"]
    message = str(excinfo.value) + getattr(excinfo.value, "output", "")
    assert "InvalidParameterValueException" in message, message[-3000:]
    assert "exceeded the 4KB limit" in message
    assert functions == []
