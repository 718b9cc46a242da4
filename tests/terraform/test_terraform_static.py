"""Static checks of terraform/: formatting, validation, declared variables, and `terraform test` (mocked AWS)."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

from batchops.terraform import TERRAFORM_DIR, Terraform, TerraformError
from batchops_core.settings import ENV_DIR, parse_tfvars


def _declared_variables() -> dict[str, dict]:
    with (TERRAFORM_DIR / "variables.tf").open(encoding="utf-8") as handle:
        document = hcl2.load(handle)
    declared: dict[str, dict] = {}
    for block in document.get("variable", []):
        for name, body in block.items():
            declared[name.strip('"')] = body
    return declared


def test_terraform_files_are_formatted(offline_terraform: Terraform) -> None:
    assert offline_terraform.fmt_check() == []


def test_configuration_is_valid(offline_terraform: Terraform) -> None:
    report = offline_terraform.validate()
    assert report["valid"] is True
    assert report["error_count"] == 0 and report["warning_count"] == 0


@pytest.mark.parametrize("env_file", sorted(ENV_DIR.glob("*.tfvars")), ids=lambda p: p.name)
def test_every_env_file_key_is_a_declared_variable(env_file: Path) -> None:
    declared = _declared_variables()
    keys = set(parse_tfvars(env_file))
    assert keys - set(declared) == set(), f"{env_file.name}: keys not declared in terraform/variables.tf"
    required = {name for name, body in declared.items() if "default" not in body}
    assert required - keys == set(), f"{env_file.name}: variables without a default must be set"
    if env_file.name == "local.tfvars":  # the full annotated reference
        assert keys == set(declared), "local.tfvars states every declared variable"


def test_every_variable_has_a_precise_type_and_a_validation_or_a_reason() -> None:
    declared = _declared_variables()
    untyped = [name for name, body in declared.items() if "type" not in body or body["type"] in ("any", "${any}")]
    assert untyped == []
    # Free-form maps and plain flags (emulated: read by the adapter, not by the HCL) need no validation beyond
    # their type; everything else says what can be wrong.
    free_form = {"tags", "emulated"}
    unvalidated = [name for name, body in declared.items() if name not in free_form and "validation" not in body]
    assert unvalidated == []


def test_validate_reports_an_invalid_configuration(tmp_path: Path, local_settings) -> None:
    broken = tmp_path / "module"
    broken.mkdir()
    (broken / "main.tf").write_text('output "x" {\n  value = var.not_declared\n}\n', encoding="utf-8")
    terraform = Terraform(local_settings, home=tmp_path / "home", endpoint_env=None, module_dir=broken)
    with pytest.raises(TerraformError) as failure:
        terraform.validate()
    assert "var.not_declared" in str(failure.value) or "undeclared" in str(failure.value).lower()


@pytest.mark.slow
def test_terraform_test_with_mocked_provider(offline_terraform: Terraform) -> None:
    output = offline_terraform.test()
    summary = re.search(r"Success! (\d+) passed, 0 failed", output)
    assert summary, output[-3000:]
    runs = re.findall(r'run "([^"]+)"\.\.\. pass', output)
    assert {"local_env_file", "rejects_invalid_values"} <= set(runs)
    assert int(summary.group(1)) == len(runs) >= 4



HARD_CODED_PARTITION = re.compile(r"arn:aws(?![a-z\[-])")  # "arn:aws:", not the regex "arn:aws[a-z-]*:"


def _hard_coded_partitions(root: Path) -> list[str]:
    offenders = []
    for path in sorted(root.rglob("*.tf")):
        if {"tests", ".terraform", "build"} & set(path.relative_to(root).parts):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = re.sub(r"(^|\s)(#|//).*$", "", line)
            if "error_message" not in code and HARD_CODED_PARTITION.search(code):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return offenders


def test_no_arn_in_hcl_hard_codes_the_partition() -> None:
    """Issue 16, item 15: GovCloud and China regions are accepted, so every ARN the HCL builds takes the partition
    from data.aws_partition (local.partition / var.partition). Validation regexes and error messages are not
    ARNs; terraform/tests holds mocked values."""
    offenders = _hard_coded_partitions(TERRAFORM_DIR)
    assert offenders == [], "ARNs must use the partition, not 'arn:aws:':\n" + "\n".join(offenders)


def test_the_partition_check_finds_a_hard_coded_arn(tmp_path: Path) -> None:
    (tmp_path / "modules" / "x").mkdir(parents=True)
    (tmp_path / "modules" / "x" / "main.tf").write_text(
        'locals {\n  # arn:aws: in a comment is fine\n  ok = "arn:${var.partition}:iam::1:role/x"\n'
        '  pattern = can(regex("^arn:aws[a-z-]*:iam::", var.role))\n  role = "arn:aws:iam::1:role/x"\n}\n')
    assert _hard_coded_partitions(tmp_path) == ['modules/x/main.tf:5: role = "arn:aws:iam::1:role/x"']
