"""Several environments side by side (issue 18 item 1), without Terraform: the plan guard over `terraform show -json`
documents, the state directory of each env file, refused name collisions between env files, and the table of
names the modules derive (it decides how long an environment name may be)."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

from batchops.terraform import (
    Terraform,
    TerraformRefusal,
    check_env_file_collision,
    plan_dangers,
    state_key,
)
from batchops_core import contracts
from batchops_core.settings import (
    ENV_DIR,
    FIXED_RESOURCE_NAMES,
    LAMBDA_FUNCTIONS,
    SCHEDULE_RULE_TEMPLATE,
    Settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "terraform" / "modules"


def _deleted(address: str, type_: str, before: dict, *actions: str) -> dict:
    return {"address": address, "mode": "managed", "type": type_,
            "change": {"actions": list(actions or ("delete",)), "before": before, "after": None}}


def _tags(project: str, environment: str) -> dict:
    return {"tags": {}, "tags_all": {"project": project, "environment": environment, "managed-by": "terraform"}}


# A plan as the issue describes it: an env file whose state holds another environment's stack.
FOREIGN_PLAN = {"format_version": "1.2", "resource_changes": [
    _deleted("module.storage.aws_s3_bucket.data[0]", "aws_s3_bucket",
             {"bucket": "abalone-local-data", **_tags("abalone", "local")}, "delete", "create"),
    _deleted("module.lambdas.aws_iam_role_policy.function[\"notification\"]", "aws_iam_role_policy",
             {"name": "function", "role": "abalone-local-notification-lambda"}),
    _deleted("module.events.aws_cloudwatch_event_target.pipeline[\"training-data\"]", "aws_cloudwatch_event_target",
             {"rule": "abalone-second-training-data", "arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/x"}),
    {"address": "module.notifications.aws_sns_topic.alerts", "mode": "managed", "type": "aws_sns_topic",
     "change": {"actions": ["create"], "before": None, "after": {"name": "abalone-second-alerts"}}},
    {"address": "data.aws_caller_identity.current", "mode": "data", "type": "aws_caller_identity",
     "change": {"actions": ["read"], "before": None, "after": {}}},
]}


@pytest.fixture
def second(tmp_path: Path, write_env_file) -> Settings:
    return load_settings(write_env_file(tmp_path / "envs", "second"))


def test_the_guard_finds_another_environments_resources_by_tags_or_names_and_the_bucket(second) -> None:
    foreign, buckets = plan_dangers(FOREIGN_PLAN, second)
    assert foreign == ["module.storage.aws_s3_bucket.data[0] (project abalone, environment local)",
                       "module.lambdas.aws_iam_role_policy.function[\"notification\"] (function)"]
    assert buckets == ["module.storage.aws_s3_bucket.data[0] (abalone-local-data)"]


def test_the_guard_lets_an_environment_delete_its_own_resources_but_not_its_bucket(second) -> None:
    own = {"resource_changes": [
        _deleted("module.lambdas.aws_lambda_function.function[\"notification\"]", "aws_lambda_function",
                 {"function_name": "abalone-second-notification", **_tags("abalone", "second")}),
        _deleted("module.events.aws_cloudwatch_event_target.pipeline[\"training-data\"]",
                 "aws_cloudwatch_event_target", {"rule": "abalone-second-training-data"}),
        _deleted("module.storage.aws_s3_bucket.data[0]", "aws_s3_bucket",
                 {"bucket": "abalone-second-data", **_tags("abalone", "second")}, "create", "delete"),
    ]}
    foreign, buckets = plan_dangers(own, second)
    assert foreign == []
    assert buckets == ["module.storage.aws_s3_bucket.data[0] (abalone-second-data)"]


def _adapter(settings: Settings, home: Path, **allow: bool) -> Terraform:
    return Terraform(settings, home=home, endpoint_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
                     terraform_bin="terraform", **allow)


def test_the_adapter_refuses_such_a_plan_in_one_line_unless_each_danger_is_allowed(second, tmp_path) -> None:
    with pytest.raises(TerraformRefusal) as refused:
        _adapter(second, tmp_path / "home").check_plan(FOREIGN_PLAN)
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"refusing the plan for {second.source_file}: it would delete or replace resources "
                              "of another environment: module.storage.aws_s3_bucket.data[0] (project abalone, "
                              "environment local)")
    assert "--allow-foreign-destroy" in message and "--allow-bucket-replacement" in message
    with pytest.raises(TerraformRefusal, match="data bucket") as bucket_only:
        _adapter(second, tmp_path / "home", allow_foreign_destroy=True).check_plan(FOREIGN_PLAN)
    assert "another environment" not in str(bucket_only.value)
    _adapter(second, tmp_path / "home", allow_foreign_destroy=True, allow_bucket_replacement=True).check_plan(
        FOREIGN_PLAN)


def test_state_lives_per_env_file_not_per_environment_value(tmp_path, write_env_file) -> None:
    assert state_key(ENV_DIR / "local.tfvars") == "local"  # today's <home>/terraform/local/ stays where it is
    one, other = write_env_file(tmp_path / "a", "second"), write_env_file(tmp_path / "b", "second")
    assert state_key(one) != state_key(other) and state_key(one).startswith("second-")
    assert state_key(one) == state_key(tmp_path / "a" / ".." / "a" / "second.tfvars")
    home = tmp_path / "home"
    local = _adapter(load_settings("local"), home)
    mine = _adapter(load_settings(one), home)
    assert local.state_file == home / "terraform" / "local" / "terraform.tfstate"
    assert mine.state_file.parent != local.state_file.parent and mine.data_dir != local.data_dir


def test_two_env_files_deriving_the_same_names_are_refused(tmp_path, write_env_file) -> None:
    home = tmp_path / "home"
    first = load_settings(write_env_file(tmp_path / "a", "second"))
    check_env_file_collision(first, home)
    check_env_file_collision(load_settings(write_env_file(tmp_path / "c", "third")), home)  # other names: fine
    twin_path = write_env_file(tmp_path / "b", "second", name="copy")
    with pytest.raises(TerraformRefusal) as refused:
        check_env_file_collision(load_settings(twin_path), home)
    assert str(refused.value).startswith(f"{twin_path} and {first.source_file} both name ")
    assert "give one of them another environment name" in str(refused.value)
    first.source_file.unlink()  # the other file is gone: its names are free again
    check_env_file_collision(load_settings(twin_path), home)


def _hcl_name_templates() -> set[str]:
    """Every resource name the modules build from the name prefix, as a settings-style template."""
    found: set[str] = set()
    for path in MODULES.glob("*/*.tf"):
        for literal in re.findall(r'"((?:alias/|/aws/lambda/)?\$\{var\.name_prefix\}-[a-z-]+)"', path.read_text()):
            found.add(literal.replace("${var.name_prefix}", "{project}-{environment}"))
    events = hcl2.loads((MODULES / "events" / "main.tf").read_text())["locals"][0]
    rule_keys = [key for table in ("pipeline_rules", "function_rules") for key in _keys(events[table])]
    found |= {f"{{project}}-{{environment}}-{key}" for key in rule_keys if not key.startswith("${")}
    lambdas = (MODULES / "lambdas" / "main.tf").read_text()
    functions = {template for template in found if any(template.endswith(f"-{f}") for f in LAMBDA_FUNCTIONS)}
    if 'for key, name in local.functions : key => "${name}-dlq"' in lambdas:  # local.dead_letter_names
        found |= {f"{template}-dlq" for template in functions}
    if '"/aws/lambda/${each.value}"' in lambdas:
        found |= {f"/aws/lambda/{template}" for template in functions}
    return found


def _keys(table) -> list[str]:
    # python-hcl2 gives an expression (the merge with the schedule rules' `for`) as one line of text; every rule
    # starts with its description.
    if isinstance(table, dict):
        return list(table)
    return re.findall(r"([a-z][a-z-]*) = \{description = ", table)


def test_the_name_table_covers_every_name_the_modules_derive() -> None:
    # The dedup table and the SSM parameter reach the HCL through contracts.json, not as literals.
    shared = {contracts.DEDUP_TABLE_TEMPLATE, contracts.ACTIVE_MODEL_PARAMETER_TEMPLATE}
    table = {template for templates in FIXED_RESOURCE_NAMES.values() for template in templates} - shared
    assert _hcl_name_templates() == table
    events = (MODULES / "events" / "main.tf").read_text()
    # The schedule rules' names: ${var.name_prefix}-<key>, key "schedule-<pipeline with '-'>-<index>".
    assert '"schedule-${replace(schedule.pipeline, "_", "-")}-${index}"' in events
    assert SCHEDULE_RULE_TEMPLATE == "{project}-{environment}-schedule-{pipeline}-{index}"
