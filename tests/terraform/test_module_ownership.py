"""The shape of terraform/: each module owns the IAM it needs, and names shared with the pipelines and the Lambdas
come from contracts.json instead of being retyped in HCL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl2
import pytest

from batchops.terraform import TERRAFORM_DIR

MODULES_DIR = TERRAFORM_DIR / "modules"
# An existing role the env file may name (pipelines.execution_role_arn) is configuration, not a module's role; so
# are a registry's consumers' execution roles in other accounts (accounts.consumers), which its policies grant.
CONFIGURED_ROLE_VARIABLES = {("sagemaker", "execution_role_arn"), ("sagemaker", "consumer_role_arns")}
# Who owns which role (docs/infrastructure.md).
EXPECTED_ROLES = {"lambdas": {"function"}, "events": {"pipeline_starter"}, "sagemaker": {"execution"}}


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle)


def _label(name: str) -> str:
    return name.strip('"')  # python-hcl2 keeps the quotes of block labels


def _module_dirs() -> list[Path]:
    return sorted(path for path in MODULES_DIR.iterdir() if path.is_dir())


def _resources(module: Path) -> dict[str, dict[str, dict]]:
    """resource type -> name -> body, over every .tf file of the module."""
    found: dict[str, dict[str, dict]] = {}
    for path in sorted(module.glob("*.tf")):
        for block in _load(path).get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    found.setdefault(_label(kind), {})[_label(name)] = body
    return found


def _variables(module: Path) -> set[str]:
    return {_label(name) for block in _load(module / "variables.tf").get("variable", []) for name in block}


@pytest.mark.parametrize("module", _module_dirs(), ids=lambda path: path.name)
def test_every_role_is_created_with_its_policy_and_used_in_its_module(module: Path) -> None:
    resources = _resources(module)
    roles = resources.get("aws_iam_role", {})
    policies = resources.get("aws_iam_role_policy", {})
    assert set(roles) == EXPECTED_ROLES.get(module.name, set()), f"modules/{module.name}: roles {sorted(roles)}"
    for name in roles:
        reference = f"aws_iam_role.{name}"
        assert any(reference in str(body.get("role")) for body in policies.values()), (
            f"modules/{module.name}: role {name} has no aws_iam_role_policy beside it")
    # A role is there for a resource of the same module (or, for the SageMaker execution role, for the
    # pipelines the builders upsert): a module made only of IAM would be a hub again.
    others = [kind for kind in resources if not kind.startswith("aws_iam_")]
    assert not roles or others, f"modules/{module.name} creates roles but nothing that uses them"
    for body in policies.values():
        assert str(body.get("role")).startswith("${aws_iam_role."), (
            f"modules/{module.name}: a role policy attaches to a role of another module ({body.get('role')})")


def test_no_module_takes_a_role_of_another_module() -> None:
    offenders = [f"modules/{module.name}: variable {name}" for module in _module_dirs()
                 for name in _variables(module)
                 if "role" in name and (module.name, name) not in CONFIGURED_ROLE_VARIABLES]
    assert offenders == []
    calls = {_label(name): body
             for block in _load(TERRAFORM_DIR / "main.tf").get("module", []) for name, body in block.items()}
    assert "iam" not in calls and not (MODULES_DIR / "iam").exists()
    passed = [f"module {call}: {argument}" for call, body in calls.items() for argument, value in body.items()
              if re.search(r"module\.\w+\.\w*role", json.dumps(value))]
    assert passed == []


# ------------------------------------------------------------------------------------------- contract names


def _contract_names() -> set[str]:
    contracts = json.loads((TERRAFORM_DIR / "contracts.json").read_text(encoding="utf-8"))
    names = set(contracts["steps"].values()) | set(contracts["events"].values())
    names |= set(contracts["parameters"].values()) | set(contracts["output_files"].values())
    # The fixed parts of the name templates ("/{project}/{environment}/active-model-package-arn").
    for key in ("active_model_parameter_template", "dedup_table_template"):
        names |= {part.strip("/-") for part in re.split(r"\{\w+\}", contracts[key]) if part.strip("/-")}
    return names


def retyped_names(text: str, names: set[str]) -> list[str]:
    """String literals of HCL code (comments and descriptions left out) that contain one of `names` as a word
    (an IAM action such as `sagemaker:CreateModel` is not the step CreateModel)."""
    found = []
    for line in text.splitlines():
        code = re.sub(r"(^|\s)(#|//).*$", "", line)
        if re.match(r"\s*(description|error_message)\s*=", code):
            continue
        for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', code):
            found += [f"{name!r} in {line.strip()}" for name in sorted(names)
                      if re.search(rf"(?<![A-Za-z:]){re.escape(name)}(?![A-Za-z])", literal)]
    return found


def test_the_scan_finds_a_retyped_name() -> None:
    names = {"ModelQualityViolated", "Object Created", "active-model-package-arn"}
    text = ('  # matches ModelQualityViolated\n  description = "after Object Created"\n'
            '  stepName = ["ModelQualityViolated"]\n'
            '  name = "/${var.project}/${var.environment}/active-model-package-arn"\n')
    assert retyped_names(text, names) == [
        "'ModelQualityViolated' in stepName = [\"ModelQualityViolated\"]",
        "'active-model-package-arn' in name = \"/${var.project}/${var.environment}/active-model-package-arn\"",
    ]


def test_contract_names_are_read_from_contracts_json_not_retyped() -> None:
    # variables.tf holds the env file's declarations and defaults (configuration, like the env files).
    files = [TERRAFORM_DIR / "main.tf", TERRAFORM_DIR / "outputs.tf", *sorted(MODULES_DIR.rglob("*.tf"))]
    names = _contract_names()
    found = [f"{path.relative_to(TERRAFORM_DIR)}: {hit}" for path in files
             for hit in retyped_names(path.read_text(encoding="utf-8"), names)]
    assert found == []
